//! What records mode and streams add to entity selection: a record's place as one
//! number, its label for messages, and [`UnitStream`], units that come with their
//! records (the rows of a SQL query).

use crate::input::InputError;
use polyplug_records::Catalog;

/// A stream of units with their records, such as the rows of a SQL query; each
/// [`UnitStream::open`] reads it again from the start.
pub trait UnitStream: Send + Sync + std::fmt::Debug {
    /// What the input is called in messages (the database and query).
    fn place(&self) -> String;

    /// A pass over the units: each one's name (its ID) and its record.
    fn open(&self) -> Result<StreamUnits, InputError>;

    /// How many units the last pass passed over because their ID came again, and
    /// the first few of those IDs.
    fn repeated(&self) -> (u64, Vec<String>) {
        (0, Vec::new())
    }
}

/// The units of one pass over a [`UnitStream`].
pub type StreamUnits =
    Box<dyn Iterator<Item = Result<(String, polyplug_core::HeldRecord), InputError>> + Send>;

/// Where a record is, as one number: the file in the top 16 bits, the byte offset in
/// the others (the place of [`Entities::place`] in records mode).
pub fn record_place(file: u32, offset: u64) -> u64 {
    (u64::from(file) << 48) | (offset & ((1 << 48) - 1))
}

/// The file and offset of a [`record_place`].
pub fn place_of_record(place: u64) -> (u32, u64) {
    ((place >> 48) as u32, place & ((1 << 48) - 1))
}

/// `<file>:<line>` of a record's [`record_place`], for messages (`<file>: byte <n>`
/// when the line cannot be told).
pub fn record_label(catalog: &Catalog, place: u64) -> String {
    let (file, offset) = place_of_record(place);
    let name = catalog
        .source()
        .files
        .get(file as usize)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    match catalog.line_of(file, offset) {
        Ok(line) => format!("{name}:{line}"),
        Err(_) => format!("{name}: byte {offset}"),
    }
}
