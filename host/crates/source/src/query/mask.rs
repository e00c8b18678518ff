//! Who reads a query, and masked columns' values replaced on the host.
//!
//! Masks are applied to each batch as it leaves the database reader, before
//! the channel to the plugin: no plugin, however hostile, ever holds a clear
//! value of a column masked for the job's reader. A masked column is text
//! in the export; its NULLs stay NULL (a mask hides values, not absence).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{ExportQuery, QueryError};
use crate::catalog::{Mask, Role};
use exporter_runtime::batch::slice::text_at;
use exporter_runtime::batch::{BatchBuilder, time};
use exporter_runtime::{Batch, Column, ColumnData, ColumnType, ColumnValues};

type HmacSha256 = Hmac<Sha256>;

/// What a redacted value, and a value a mask cannot keep any of, reads.
pub const REDACTED: &str = "[redacted]";

/// Who reads a query: their role decides which columns they see and which
/// are masked; the key is their scope's, for `hash` masks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub role: Role,
    pub key: MaskKey,
}

impl Access {
    /// A reader who sees everything a SuperAdmin sees, for reads whose rows
    /// nobody receives (a catalog entry's check decodes a sample, then
    /// drops it). The hash key is all zeros: never use it for a file.
    pub fn unkeyed_superadmin() -> Self {
        Access {
            role: Role::SuperAdmin,
            key: MaskKey([0; 32]),
        }
    }
}

/// The service's secret for masks, from which each organization's hash key
/// is derived. Derived itself from the service secret (the one that signs
/// tokens and links), under its own label, so a hash key never equals a
/// signing key.
#[derive(Clone)]
pub struct MaskSecret([u8; 32]);

impl MaskSecret {
    pub fn new(service_secret: &str) -> Self {
        MaskSecret(hmac(service_secret.as_bytes(), b"exporter column masks v1"))
    }

    /// The hash key of exports of `organization`'s rows; `None`, a
    /// SuperAdmin's export of every organization, has a key of its own, so
    /// its hashes join with no organization's.
    pub fn key_for(&self, organization: Option<&str>) -> MaskKey {
        let scope = match organization {
            Some(id) => format!("organization\0{id}"),
            None => "every organization".to_owned(),
        };
        MaskKey(hmac(&self.0, scope.as_bytes()))
    }
}

impl std::fmt::Debug for MaskSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaskSecret(***)")
    }
}

/// One scope's key for `hash` masks.
#[derive(Clone, PartialEq, Eq)]
pub struct MaskKey([u8; 32]);

impl std::fmt::Debug for MaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaskKey(***)")
    }
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The masks of one query: which of a batch's columns, and how.
#[derive(Debug, Clone)]
pub struct Masking {
    columns: Vec<(usize, Mask)>,
    key: MaskKey,
}

impl Masking {
    /// `query`'s masks, or `None` when its reader sees every selected
    /// column in clear.
    pub fn of(query: &ExportQuery) -> Result<Option<Masking>, QueryError> {
        let selected = query.selected()?;
        let columns: Vec<(usize, Mask)> = selected
            .iter()
            .enumerate()
            .filter_map(|(at, column)| match query.access_to(column) {
                crate::catalog::ColumnAccess::Masked(mask) => Some((at, mask)),
                _ => None,
            })
            .collect();
        Ok((!columns.is_empty()).then(|| Masking {
            columns,
            key: query.access.key.clone(),
        }))
    }

    /// `batch` with its masked columns replaced by their masked text.
    /// Columns after the export's own (a keyed read's keys) are left as
    /// they are: they never reach a plugin.
    pub fn apply(&self, mut batch: Batch) -> Batch {
        let rows = batch.rows as usize;
        for &(at, mask) in &self.columns {
            let column = &batch.columns[at];
            let mut out = BatchBuilder::new(
                &[Column {
                    name: String::new(),
                    kind: ColumnType::Text,
                }],
                rows,
            );
            for row in 0..rows {
                let masked = value_text(column, row).map(|value| self.mask(mask, &value));
                out.column(0).push_str(masked.as_deref());
                out.end_row();
            }
            batch.columns[at] = out.take().columns.remove(0);
        }
        batch
    }

    fn mask(&self, mask: Mask, value: &str) -> String {
        match mask {
            Mask::Redact => REDACTED.to_owned(),
            Mask::Hash => hex::encode(&hmac(&self.key.0, value.as_bytes())[..16]),
            Mask::EmailDomain => match value.rsplit_once('@') {
                Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
                    format!("***@{domain}")
                }
                _ => REDACTED.to_owned(),
            },
            Mask::Last4 => {
                let chars = value.chars().count();
                if chars < 8 {
                    "****".to_owned()
                } else {
                    let last4: String = value.chars().skip(chars - 4).collect();
                    format!("****{last4}")
                }
            }
        }
    }
}

/// Row `row`'s value as text (the same spelling every engine's rows get,
/// so a hash is the same whichever database the rows came from); `None`
/// for NULL.
fn value_text(column: &ColumnData, row: usize) -> Option<String> {
    if let Some(bits) = &column.validity
        && bits[row / 8] & (1 << (row % 8)) == 0
    {
        return None;
    }
    Some(match &column.values {
        ColumnValues::Boolean(v) => v[row].to_string(),
        ColumnValues::Int64(v) => v[row].to_string(),
        ColumnValues::Float64(v) => v[row].to_string(),
        ColumnValues::Date(v) => time::format_date(v[row]),
        ColumnValues::Timestamp(v) => time::format_timestamp(v[row]),
        ColumnValues::Decimal(_) | ColumnValues::Text(_) | ColumnValues::Json(_) => {
            text_at(column, row)?.to_owned()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use exporter_runtime::batch::Value;

    fn masking(mask: Mask, organization: Option<&str>) -> Masking {
        Masking {
            columns: vec![(0, mask)],
            key: MaskSecret::new("s3cret").key_for(organization),
        }
    }

    fn masked(mask: Mask, values: &[Value]) -> Vec<Option<String>> {
        masked_for(mask, Some("acme"), values)
    }

    fn masked_for(mask: Mask, organization: Option<&str>, values: &[Value]) -> Vec<Option<String>> {
        let kind = match values.iter().find(|v| !matches!(v, Value::Null)) {
            Some(Value::Int64(_)) => ColumnType::Int64,
            Some(Value::Timestamp(_)) => ColumnType::Timestamp,
            _ => ColumnType::Text,
        };
        let schema = [
            Column {
                name: "c".into(),
                kind,
            },
            Column {
                name: "__key_0".into(),
                kind: ColumnType::Int64,
            },
        ];
        let mut builder = BatchBuilder::new(&schema, values.len());
        for (i, value) in values.iter().enumerate() {
            builder
                .push_row(&[value.clone(), Value::Int64(i as i64)])
                .unwrap();
        }
        let batch = masking(mask, organization).apply(builder.take());
        assert!(matches!(batch.columns[1].values, ColumnValues::Int64(_)));
        (0..values.len())
            .map(|row| value_text(&batch.columns[0], row))
            .collect()
    }

    #[test]
    fn each_mask_reads_as_documented() {
        let text = |s: &str| Value::Text(s.to_owned());
        assert_eq!(
            masked(Mask::Redact, &[text("secret"), Value::Null]),
            [Some(REDACTED.to_owned()), None]
        );
        assert_eq!(
            masked(
                Mask::EmailDomain,
                &[text("alice@example.com"), text("nobody"), text("@x.org")]
            ),
            [
                Some("***@example.com".to_owned()),
                Some(REDACTED.to_owned()),
                Some(REDACTED.to_owned())
            ]
        );
        assert_eq!(
            masked(
                Mask::Last4,
                &[text("4111111111111111"), text("1234567"), text("été-ïö-ü€")]
            ),
            [
                Some("****1111".to_owned()),
                Some("****".to_owned()),
                Some("****ö-ü€".to_owned())
            ]
        );
        // A masked non-text column is text.
        assert_eq!(
            masked(Mask::Last4, &[Value::Int64(123_456_789)]),
            [Some("****6789".to_owned())]
        );
    }

    #[test]
    fn hashes_are_stable_per_organization_and_differ_across() {
        let values = [
            Value::Text("alice@example.com".into()),
            Value::Text("alice@example.com".into()),
            Value::Text("bob@example.com".into()),
        ];
        let acme = masked(Mask::Hash, &values);
        assert_eq!(acme[0], acme[1], "equal values hash equal");
        assert_ne!(acme[0], acme[2]);
        assert_eq!(acme[0].as_ref().unwrap().len(), 32);
        assert!(!acme[0].as_ref().unwrap().contains("alice"));
        let globex = masked_for(Mask::Hash, Some("globex"), &values);
        assert_ne!(acme[0], globex[0], "another organization, another key");
        let everyone = masked_for(Mask::Hash, None, &values);
        assert_ne!(acme[0], everyone[0]);
        // And the same service secret gives the same hashes next time.
        assert_eq!(acme, masked(Mask::Hash, &values));
        // Timestamps hash their RFC 3339 spelling, as every engine reads them.
        let at = masked(Mask::Hash, &[Value::Timestamp(0)]);
        let spelled = masked(Mask::Hash, &[Value::Text("1970-01-01T00:00:00Z".into())]);
        assert_eq!(at, spelled);
    }

    #[test]
    fn no_key_is_printed() {
        let secret = MaskSecret::new("s3cret");
        assert_eq!(format!("{secret:?}"), "MaskSecret(***)");
        assert_eq!(format!("{:?}", secret.key_for(None)), "MaskKey(***)");
    }
}
