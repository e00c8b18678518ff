//! The life of one export, independent of where its bytes go; and the glue
//! that drives it from the generated component exports.

use std::cell::RefCell;
use std::marker::PhantomData;

use crate::bindings::exporter::formatter::types as wit;
use crate::bindings::exports::exporter::formatter::formatter::{Guest, GuestWriter, Writer};
use crate::{Batch, Column, Encoder, ExportContext, Format, FormatError, Options, Output};

/// One export: the format's encoder and its output. Shared by the component
/// glue (host output) and [`crate::testing`] (memory output), so tests run
/// exactly the path the host does.
pub(crate) struct Session<F: Format> {
    encoder: F::Encoder,
    out: Output,
    columns: Vec<Column>,
}

impl<F: Format> Session<F> {
    pub(crate) fn open<I, N, V>(
        columns: Vec<Column>,
        options: I,
        context: &ExportContext,
        mut out: Output,
    ) -> Result<Self, FormatError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let options = Options::parse(&F::info().options, options)?;
        let encoder = F::open(&columns, &options, context, &mut out)?;
        Ok(Session {
            encoder,
            out,
            columns,
        })
    }

    pub(crate) fn write_batch(&mut self, batch: &wit::Batch) -> Result<(), FormatError> {
        let batch = Batch::new(batch, &self.columns)?;
        self.encoder.write_batch(&batch, &mut self.out)
    }

    pub(crate) fn finish(self) -> Result<Output, FormatError> {
        let mut out = self.out;
        self.encoder.finish(&mut out)?;
        out.flush_buffer();
        Ok(out)
    }
}

/// The type `export_format!` exports: implements the generated `Guest`
/// trait for any [`Format`].
#[doc(hidden)]
pub struct Plugin<F>(PhantomData<F>);

/// The `writer` resource for a [`Format`]. The generated trait takes
/// `&self`, hence the `RefCell`; `None` once finished or failed.
#[doc(hidden)]
pub struct WriterResource<F: Format> {
    session: RefCell<Option<Session<F>>>,
}

impl<F: Format> Guest for Plugin<F> {
    type Writer = WriterResource<F>;

    fn info() -> wit::FormatInfo {
        F::info().into()
    }
}

impl<F: Format> GuestWriter for WriterResource<F> {
    fn open(
        columns: Vec<wit::Column>,
        options: Vec<wit::OptionValue>,
        context: wit::ExportContext,
    ) -> Result<Writer, wit::FormatError> {
        let columns = columns.into_iter().map(Column::from).collect();
        let options = options.iter().map(|o| (&o.name, &o.value));
        let session = Session::<F>::open(columns, options, &context.into(), Output::host())?;
        Ok(Writer::new(WriterResource {
            session: RefCell::new(Some(session)),
        }))
    }

    fn write_batch(&self, batch: wit::Batch) -> Result<(), wit::FormatError> {
        let mut slot = self.session.borrow_mut();
        let session = slot.as_mut().ok_or_else(not_open)?;
        if let Err(error) = session.write_batch(&batch) {
            // The encoder may be half way through a row; the contract says
            // the export is over, so refuse anything further.
            *slot = None;
            return Err(error.into());
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), wit::FormatError> {
        let session = self.session.borrow_mut().take().ok_or_else(not_open)?;
        session.finish()?;
        Ok(())
    }
}

fn not_open() -> wit::FormatError {
    wit::FormatError::Other(
        "the writer is finished or failed earlier; it takes no more calls".to_owned(),
    )
}
