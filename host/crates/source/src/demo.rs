//! A deterministic demo tenant set: organizations `acme` and `globex`, the
//! users the docs and tests log in as, and sessions and analytics events
//! across 2026 full of awkward values (unicode, emoji, delimiters, quotes,
//! line breaks, nulls, very long text). The same `rows` always yields the
//! same data.

use sha2::{Digest, Sha256};

use exporter_store::db::Database;
use exporter_wit::civil::{MICROS_PER_DAY, MICROS_PER_SECOND, days_from_civil};

/// Sessions seeded by default; `--rows` scales it (analytics events are
/// twice as many).
pub const DEFAULT_ROWS: u64 = 2_000;

/// The fixed accounts: (email, name, role, organization slug).
pub const ACCOUNTS: &[(&str, &str, &str, &str)] = &[
    ("super@exporter.test", "Sam Super", "SuperAdmin", "acme"),
    ("admin@acme.test", "Ada Admin", "Admin", "acme"),
    ("manager@acme.test", "Max Manager", "Manager", "acme"),
    ("member@acme.test", "Mia Member", "Member", "acme"),
    ("admin@globex.test", "Gus Admin", "Admin", "globex"),
    ("manager@globex.test", "Gia Manager", "Manager", "globex"),
];

pub const ORGANIZATIONS: &[(&str, &str)] = &[
    ("acme", "Acme Corporation"),
    ("globex", "Globex Corporation, Ltd."),
];

const EXTRA_NAMES: &[&str] = &[
    "Zoë Saldaña",
    "Иван Петров",
    "Αλέξανδρος Παπαδόπουλος",
    "李小龙",
    "O'Brien, \"Bob\"",
    "José María Ñúñez",
    "Ünal Şahin",
    "Emoji Fan 🎉🦀",
    "Line\nBreak",
    "  Padded Name  ",
];

const DEVICES: &[Option<&str>] = &[
    Some("Desktop"),
    Some("iPhone 15 📱"),
    Some("Pixel 8"),
    Some("iPad, 10th gen"),
    Some("Smart TV \"Living room\""),
    None,
];
const BROWSERS: &[Option<&str>] = &[
    Some("Firefox"),
    Some("Chrome"),
    Some("Safari"),
    Some("Edge; Chromium"),
    None,
];
const COUNTRIES: &[Option<&str>] = &[
    Some("US"),
    Some("DE"),
    Some("JP"),
    Some("BR"),
    Some("GR"),
    None,
];
const EVENT_TYPES: &[&str] = &["page_view", "click", "purchase", "signup", "search"];

/// What `seed` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeded {
    Inserted {
        users: u64,
        sessions: u64,
        events: u64,
    },
    AlreadyPresent,
}

/// A stable id: a UUID-shaped digest of what the row is.
pub fn demo_id(kind: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("{kind}:{key}").as_bytes());
    let hex = hex::encode(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Seeds the demo unless organization `acme` already exists.
pub async fn seed(db: &Database, rows: u64) -> anyhow::Result<Seeded> {
    let present: i64 = match db {
        Database::Sqlite(pool) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM organizations WHERE slug = 'acme'")
                .fetch_one(pool)
                .await?
        }
        Database::Postgres(pool) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM organizations WHERE slug = 'acme'")
                .fetch_one(pool)
                .await?
        }
    };
    if present > 0 {
        return Ok(Seeded::AlreadyPresent);
    }
    let (generator, organizations, users) = Generator::new(rows);
    let users_count = users.len() as u64;
    match db {
        Database::Sqlite(pool) => insert(pool, generator, organizations, users).await?,
        Database::Postgres(pool) => insert(pool, generator, organizations, users).await?,
    }
    Ok(Seeded::Inserted {
        users: users_count,
        sessions: rows,
        events: rows * 2,
    })
}

/// Replaces the demo's activity (sessions and analytics events) with
/// `rows` sessions, keeping the organizations, users and jobs: for a
/// database seeded before at another size. Seeds the whole demo when
/// there is none.
pub async fn reseed(db: &Database, rows: u64) -> anyhow::Result<Seeded> {
    if let inserted @ Seeded::Inserted { .. } = seed(db, rows).await? {
        return Ok(inserted);
    }
    let (generator, _, users) = Generator::new(rows);
    // Events refer to sessions: they go first.
    for statement in ["DELETE FROM analytics_events", "DELETE FROM sessions"] {
        exporter_store::db::execute(db, statement, &[]).await?;
    }
    match db {
        Database::Sqlite(pool) => insert_activity(pool, generator).await?,
        Database::Postgres(pool) => insert_activity(pool, generator).await?,
    }
    Ok(Seeded::Inserted {
        users: users.len() as u64,
        sessions: rows,
        events: rows * 2,
    })
}

/// One cell of a row to insert; each engine binds it its own way.
#[derive(Debug, Clone)]
enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    /// Microseconds since the epoch.
    Instant(Option<i64>),
    Decimal(Option<String>),
    Json(String),
}

/// Sessions generated (and inserted) at a time: memory stays bounded
/// whatever `--rows` asks for.
const SESSIONS_PER_CHUNK: u64 = 10_000;

/// The demo, generated in order: organizations and users first, then
/// sessions (with their events) chunk by chunk. The same `rows` always
/// yields the same data.
struct Generator {
    rng: Rng,
    /// (id, organization slug) of every user, for sessions to refer to.
    people: Vec<(String, &'static str)>,
    long_note: String,
    year_start: i64,
    year_micros: u64,
    rows: u64,
    next: u64,
}

/// One chunk of activity.
struct Activity {
    sessions: Vec<Vec<Cell>>,
    events: Vec<Vec<Cell>>,
}

/// xorshift64*: deterministic and cheap.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(Some(s.into()))
}

impl Generator {
    /// The generator and the fixed rows: (organizations, users).
    fn new(rows: u64) -> (Self, Vec<Vec<Cell>>, Vec<Vec<Cell>>) {
        let year_start = days_from_civil(2026, 1, 1) * MICROS_PER_DAY;
        let year_micros = 365 * MICROS_PER_DAY as u64;
        let mut rng = Rng(0x5eed_0000_2026);

        let organizations: Vec<Vec<Cell>> = ORGANIZATIONS
            .iter()
            .map(|(slug, name)| {
                vec![
                    text(demo_id("organization", slug)),
                    text(*slug),
                    text(*name),
                    Cell::Instant(Some(year_start - 90 * MICROS_PER_DAY)),
                ]
            })
            .collect();

        // (id, organization slug) of every user, for sessions to refer to.
        let mut people: Vec<(String, &str)> = Vec::new();
        let mut users = Vec::new();
        let mut add_user = |email: String,
                            name: String,
                            role: &str,
                            org: &'static str,
                            rng: &mut Rng,
                            fixed: bool| {
            let id = demo_id("user", &email);
            let created = year_start + rng.below(year_micros / 2) as i64;
            users.push(vec![
                text(id.clone()),
                text(demo_id("organization", org)),
                text(email),
                text(name),
                text(role),
                // The fixed accounts sign in: always active.
                Cell::Bool(rng.below(10) != 0 || fixed),
                Cell::Instant(Some(created)),
                Cell::Instant(
                    (rng.below(4) != 0).then(|| created + rng.below(year_micros / 2) as i64),
                ),
            ]);
            people.push((id, org));
        };
        for (email, name, role, org) in ACCOUNTS {
            let org = if *org == "acme" { "acme" } else { "globex" };
            add_user(
                email.to_string(),
                name.to_string(),
                role,
                org,
                &mut rng,
                true,
            );
        }
        for (index, name) in EXTRA_NAMES.iter().enumerate() {
            for org in ["acme", "globex"] {
                add_user(
                    format!("user{index}@{org}.test"),
                    name.to_string(),
                    "Member",
                    org,
                    &mut rng,
                    false,
                );
            }
        }

        let generator = Generator {
            rng,
            people,
            long_note: "A very long note. ".repeat(2_000),
            year_start,
            year_micros,
            rows,
            next: 0,
        };
        (generator, organizations, users)
    }

    /// The next chunk of sessions and their events; `None` when done.
    fn chunk(&mut self) -> Option<Activity> {
        if self.next >= self.rows {
            return None;
        }
        let (year_start, year_micros, rows) = (self.year_start, self.year_micros, self.rows);
        let end = (self.next + SESSIONS_PER_CHUNK).min(rows);
        let rng = &mut self.rng;
        let people = &self.people;
        let long_note = &self.long_note;
        let mut sessions = Vec::with_capacity((end - self.next) as usize);
        let mut events = Vec::with_capacity((end - self.next) as usize * 2);
        for n in self.next..end {
            // Spread evenly over the year, with jitter, so every month has data.
            let started = year_start
                + (n * (year_micros / rows.max(1))) as i64
                + rng.below(60_000_000) as i64;
            // 70 % acme, 30 % globex.
            let org = if rng.below(10) < 7 { "acme" } else { "globex" };
            let candidates: Vec<&(String, &str)> =
                people.iter().filter(|(_, o)| *o == org).collect();
            let (user, _) = candidates[rng.below(candidates.len() as u64) as usize];
            let status = match rng.below(20) {
                0 => "active",
                1 => "expired",
                _ => "completed",
            };
            let duration = (status != "active").then(|| 30 + rng.below(7_200) as i64);
            let notes = match rng.below(12) {
                0 => None,
                1 => Some("Checkout, then \"cancelled\"".to_owned()),
                2 => Some("multi-line\nnote\r\nwith CRLF".to_owned()),
                3 => Some(long_note.clone()),
                4 => Some("Ελληνικά, кириллица, 日本語 and emoji 🎉".to_owned()),
                5 => Some("=HYPERLINK(\"http://example.test\")".to_owned()),
                6 => Some(String::new()),
                _ => Some(format!("visit {n}")),
            };
            let id = demo_id("session", &n.to_string());
            sessions.push(vec![
                text(id.clone()),
                text(demo_id("organization", org)),
                text(user.clone()),
                Cell::Instant(Some(started)),
                Cell::Instant(duration.map(|d| started + d * MICROS_PER_SECOND)),
                Cell::Int(duration),
                Cell::Text(rng.pick(DEVICES).map(str::to_owned)),
                Cell::Text(rng.pick(BROWSERS).map(str::to_owned)),
                Cell::Text(rng.pick(COUNTRIES).map(str::to_owned)),
                text(format!("203.0.113.{}", rng.below(255))),
                text(status),
                Cell::Int(Some(rng.below(40) as i64)),
                Cell::Text(notes),
            ]);
            for k in 0..2 {
                let kind = rng.pick(EVENT_TYPES);
                let value = (kind == "purchase")
                    .then(|| format!("{}.{:02}", rng.below(2_000), rng.below(100)));
                let properties = serde_json::json!({
                    "path": format!("/products/{}", rng.below(500)),
                    "label": rng.pick(&["Zoë's pick", "naïve café", "🎉 launch", "plain"]),
                    "ab": rng.below(2) == 0,
                });
                events.push(vec![
                    text(demo_id("event", &format!("{n}:{k}"))),
                    text(demo_id("organization", org)),
                    Cell::Text((rng.below(8) != 0).then(|| user.clone())),
                    Cell::Text(Some(id.clone())),
                    text(kind),
                    Cell::Decimal(value),
                    Cell::Json(properties.to_string()),
                    Cell::Instant(Some(
                        started + (k as i64 + 1) * rng.below(600_000_000) as i64,
                    )),
                ]);
            }
        }
        self.next = end;
        Some(Activity { sessions, events })
    }
}

const ORGANIZATION_COLUMNS: &[&str] = &["id", "slug", "name", "created_at"];
const USER_COLUMNS: &[&str] = &[
    "id",
    "organization_id",
    "email",
    "name",
    "role",
    "active",
    "created_at",
    "last_login_at",
];
const SESSION_COLUMNS: &[&str] = &[
    "id",
    "organization_id",
    "user_id",
    "started_at",
    "ended_at",
    "duration_seconds",
    "device",
    "browser",
    "country",
    "ip_address",
    "status",
    "pages_viewed",
    "notes",
];
const EVENT_COLUMNS: &[&str] = &[
    "id",
    "organization_id",
    "user_id",
    "session_id",
    "event_type",
    "value",
    "properties",
    "occurred_at",
];

/// Binds a cell for one engine.
trait BindCell: sqlx::Database {
    fn bind_cell(builder: &mut sqlx::query_builder::Separated<'_, Self, &'static str>, cell: &Cell);
}

impl BindCell for sqlx::Sqlite {
    fn bind_cell(
        builder: &mut sqlx::query_builder::Separated<'_, Self, &'static str>,
        cell: &Cell,
    ) {
        match cell.clone() {
            Cell::Text(v) | Cell::Decimal(v) => builder.push_bind(v),
            Cell::Int(v) | Cell::Instant(v) => builder.push_bind(v),
            Cell::Bool(v) => builder.push_bind(v),
            Cell::Json(v) => builder.push_bind(v),
        };
    }
}

impl BindCell for sqlx::Postgres {
    fn bind_cell(
        builder: &mut sqlx::query_builder::Separated<'_, Self, &'static str>,
        cell: &Cell,
    ) {
        match cell.clone() {
            Cell::Text(v) => builder.push_bind(v),
            Cell::Int(v) => builder.push_bind(v),
            Cell::Bool(v) => builder.push_bind(v),
            Cell::Instant(v) => builder.push_bind(v.map(|micros| {
                time::OffsetDateTime::UNIX_EPOCH + time::Duration::microseconds(micros)
            })),
            Cell::Decimal(v) => builder.push_bind(v).push_unseparated("::numeric"),
            Cell::Json(v) => builder.push_bind(v).push_unseparated("::jsonb"),
        };
    }
}

/// Rows per INSERT: well under SQLite's and PostgreSQL's parameter limits.
const ROWS_PER_STATEMENT: usize = 500;

/// Inserts the demo chunk by chunk, committing each: memory and the
/// SQLite write-ahead log stay small however many rows are asked for. An
/// interrupted seed leaves a partial demo; seed a fresh database then.
async fn insert<DB>(
    pool: &sqlx::Pool<DB>,
    mut generator: Generator,
    organizations: Vec<Vec<Cell>>,
    users: Vec<Vec<Cell>>,
) -> anyhow::Result<()>
where
    DB: BindCell,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'a> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut tx = pool.begin().await?;
    insert_rows(
        &mut tx,
        "organizations",
        ORGANIZATION_COLUMNS,
        &organizations,
    )
    .await?;
    insert_rows(&mut tx, "users", USER_COLUMNS, &users).await?;
    while let Some(activity) = generator.chunk() {
        insert_rows(&mut tx, "sessions", SESSION_COLUMNS, &activity.sessions).await?;
        insert_rows(&mut tx, "analytics_events", EVENT_COLUMNS, &activity.events).await?;
        tx.commit().await?;
        tx = pool.begin().await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The sessions and events alone, chunk by chunk, as [`insert`] does.
async fn insert_activity<DB>(pool: &sqlx::Pool<DB>, mut generator: Generator) -> anyhow::Result<()>
where
    DB: BindCell,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'a> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    while let Some(activity) = generator.chunk() {
        let mut tx = pool.begin().await?;
        insert_rows(&mut tx, "sessions", SESSION_COLUMNS, &activity.sessions).await?;
        insert_rows(&mut tx, "analytics_events", EVENT_COLUMNS, &activity.events).await?;
        tx.commit().await?;
    }
    Ok(())
}

async fn insert_rows<DB>(
    tx: &mut sqlx::Transaction<'static, DB>,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Cell>],
) -> anyhow::Result<()>
where
    DB: BindCell,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'a> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut builder =
            sqlx::QueryBuilder::<DB>::new(format!("INSERT INTO {table} ({}) ", columns.join(", ")));
        builder.push_values(chunk, |mut row, cells| {
            for cell in cells {
                DB::bind_cell(&mut row, cell);
            }
        });
        builder.build().execute(&mut **tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(rows: u64) -> (Vec<Vec<Cell>>, Vec<Vec<Cell>>) {
        let (mut generator, _, _) = Generator::new(rows);
        let (mut sessions, mut events) = (Vec::new(), Vec::new());
        while let Some(chunk) = generator.chunk() {
            assert!(chunk.sessions.len() as u64 <= SESSIONS_PER_CHUNK);
            sessions.extend(chunk.sessions);
            events.extend(chunk.events);
        }
        (sessions, events)
    }

    #[test]
    fn generation_is_deterministic_sized_and_chunked() {
        let (a, a_events) = all(25_000);
        let (b, _) = all(25_000);
        assert_eq!(a.len(), 25_000);
        assert_eq!(a_events.len(), 50_000);
        assert_eq!(
            format!("{:?}", a[..100].to_vec()),
            format!("{:?}", b[..100].to_vec())
        );
        assert_eq!(
            format!("{:?}", a[24_900..].to_vec()),
            format!("{:?}", b[24_900..].to_vec())
        );
        assert_eq!(demo_id("user", "admin@acme.test").len(), 36);
    }
}
