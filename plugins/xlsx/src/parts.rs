//! The small parts of the package, written at finish once the sheets are
//! known: workbook, relationships, styles, document properties and content
//! types. Only the sheets themselves are streamed.

use std::fmt::Write;

use crate::cells::{column_name, escape_attribute};

const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";
const MAIN_NS: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const RELATIONSHIPS_NS: &str =
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

/// A finished sheet, as the workbook lists it.
pub struct SheetEntry {
    pub name: String,
    /// The autofilter's range (`A1:H42`), if the sheet has one.
    pub filter: Option<String>,
}

/// The zip path of sheet `number` (from 1).
pub fn sheet_path(number: usize) -> String {
    format!("xl/worksheets/sheet{number}.xml")
}

/// A sheet's opening up to `<sheetData>`: view (frozen header), column
/// widths.
pub fn sheet_start(first: bool, freeze_header: bool, widths: &[f64]) -> String {
    let mut xml =
        format!("{XML_DECLARATION}<worksheet xmlns=\"{MAIN_NS}\" xmlns:r=\"{RELATIONSHIPS_NS}\">");
    xml.push_str("<sheetViews><sheetView workbookViewId=\"0\"");
    if first {
        xml.push_str(" tabSelected=\"1\"");
    }
    if freeze_header {
        xml.push_str("><pane ySplit=\"1\" topLeftCell=\"A2\" activePane=\"bottomLeft\" state=\"frozen\"/><selection pane=\"bottomLeft\" activeCell=\"A2\" sqref=\"A2\"/></sheetView>");
    } else {
        xml.push_str("/>");
    }
    xml.push_str("</sheetViews><sheetFormatPr defaultRowHeight=\"15\"/>");
    if !widths.is_empty() {
        xml.push_str("<cols>");
        for (index, width) in widths.iter().enumerate() {
            let n = index + 1;
            let _ = write!(
                xml,
                "<col min=\"{n}\" max=\"{n}\" width=\"{width:.2}\" customWidth=\"1\"/>"
            );
        }
        xml.push_str("</cols>");
    }
    xml.push_str("<sheetData>");
    xml
}

/// A sheet's closing: the autofilter over its header and rows.
pub fn sheet_end(filter: Option<&str>) -> String {
    let mut xml = String::from("</sheetData>");
    if let Some(range) = filter {
        let _ = write!(xml, "<autoFilter ref=\"{range}\"/>");
    }
    xml.push_str("</worksheet>");
    xml
}

/// The autofilter range over `columns` columns and `rows` rows (header
/// included).
pub fn filter_range(columns: usize, rows: u64) -> String {
    format!("A1:{}{}", column_name(columns - 1), rows.max(1))
}

pub fn workbook(sheets: &[SheetEntry]) -> String {
    let mut xml = format!(
        "{XML_DECLARATION}<workbook xmlns=\"{MAIN_NS}\" xmlns:r=\"{RELATIONSHIPS_NS}\"><bookViews><workbookView/></bookViews><sheets>"
    );
    for (index, sheet) in sheets.iter().enumerate() {
        let _ = write!(
            xml,
            "<sheet name=\"{}\" sheetId=\"{}\" r:id=\"rId{}\"/>",
            escape_attribute(&sheet.name),
            index + 1,
            index + 1
        );
    }
    xml.push_str("</sheets>");
    // Excel keeps an autofilter's range in this hidden name as well and
    // repairs workbooks without it.
    if sheets.iter().any(|s| s.filter.is_some()) {
        xml.push_str("<definedNames>");
        for (index, sheet) in sheets.iter().enumerate() {
            if let Some(range) = &sheet.filter {
                let (first, last) = range.split_once(':').expect("a range");
                let _ = write!(
                    xml,
                    "<definedName name=\"_xlnm._FilterDatabase\" localSheetId=\"{index}\" hidden=\"1\">'{}'!{}:{}</definedName>",
                    escape_attribute(&sheet.name.replace('\'', "''")),
                    absolute(first),
                    absolute(last)
                );
            }
        }
        xml.push_str("</definedNames>");
    }
    xml.push_str("</workbook>");
    xml
}

/// `A1` as `$A$1`.
fn absolute(cell: &str) -> String {
    let digits = cell
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(cell.len());
    format!("${}${}", &cell[..digits], &cell[digits..])
}

pub fn workbook_relationships(sheets: usize) -> String {
    let mut xml = format!(
        "{XML_DECLARATION}<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    );
    for number in 1..=sheets {
        let _ = write!(
            xml,
            "<Relationship Id=\"rId{number}\" Type=\"{RELATIONSHIPS_NS}/worksheet\" Target=\"worksheets/sheet{number}.xml\"/>"
        );
    }
    let _ = write!(
        xml,
        "<Relationship Id=\"rId{}\" Type=\"{RELATIONSHIPS_NS}/styles\" Target=\"styles.xml\"/></Relationships>",
        sheets + 1
    );
    xml
}

pub fn package_relationships() -> String {
    format!(
        "{XML_DECLARATION}<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
         <Relationship Id=\"rId1\" Type=\"{RELATIONSHIPS_NS}/officeDocument\" Target=\"xl/workbook.xml\"/>\
         <Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties\" Target=\"docProps/core.xml\"/>\
         <Relationship Id=\"rId3\" Type=\"{RELATIONSHIPS_NS}/extended-properties\" Target=\"docProps/app.xml\"/>\
         </Relationships>"
    )
}

/// Cell styles, in the order `cells` refers to them: 0 plain, 1 bold
/// header, 2 date, 3 timestamp.
pub fn styles(date_format: &str, timestamp_format: &str) -> String {
    format!(
        "{XML_DECLARATION}<styleSheet xmlns=\"{MAIN_NS}\">\
         <numFmts count=\"2\"><numFmt numFmtId=\"164\" formatCode=\"{}\"/><numFmt numFmtId=\"165\" formatCode=\"{}\"/></numFmts>\
         <fonts count=\"2\"><font><sz val=\"11\"/><name val=\"Calibri\"/><family val=\"2\"/></font><font><b/><sz val=\"11\"/><name val=\"Calibri\"/><family val=\"2\"/></font></fonts>\
         <fills count=\"2\"><fill><patternFill patternType=\"none\"/></fill><fill><patternFill patternType=\"gray125\"/></fill></fills>\
         <borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
         <cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs>\
         <cellXfs count=\"4\">\
         <xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/>\
         <xf numFmtId=\"0\" fontId=\"1\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyFont=\"1\"/>\
         <xf numFmtId=\"164\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyNumberFormat=\"1\"/>\
         <xf numFmtId=\"165\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyNumberFormat=\"1\"/>\
         </cellXfs>\
         <cellStyles count=\"1\"><cellStyle name=\"Normal\" xfId=\"0\" builtinId=\"0\"/></cellStyles>\
         </styleSheet>",
        escape_attribute(date_format),
        escape_attribute(timestamp_format),
    )
}

/// Title, creation time (`created` is W3CDTF, e.g. `2026-01-01T00:00:00Z`)
/// and, if any, a description (Excel's "Comments").
pub fn core_properties(title: &str, created: &str, description: Option<&str>) -> String {
    let mut title_xml = Vec::new();
    crate::cells::escape_text(&mut title_xml, title);
    let description = description.map_or_else(String::new, |text| {
        let mut xml = b"<dc:description>".to_vec();
        crate::cells::escape_text(&mut xml, text);
        xml.extend_from_slice(b"</dc:description>");
        String::from_utf8(xml).expect("escaping keeps UTF-8")
    });
    format!(
        "{XML_DECLARATION}<cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
         <dc:title>{}</dc:title><dc:creator>Exporter</dc:creator>{description}\
         <dcterms:created xsi:type=\"dcterms:W3CDTF\">{created}</dcterms:created>\
         <dcterms:modified xsi:type=\"dcterms:W3CDTF\">{created}</dcterms:modified>\
         </cp:coreProperties>",
        String::from_utf8(title_xml).expect("escaping keeps UTF-8"),
    )
}

pub fn app_properties(version: &str) -> String {
    format!(
        "{XML_DECLARATION}<Properties xmlns=\"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties\">\
         <Application>Exporter XLSX plugin {version}</Application></Properties>"
    )
}

pub fn content_types(sheets: usize) -> String {
    let mut xml = format!(
        "{XML_DECLARATION}<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
         <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
         <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
         <Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>\
         <Override PartName=\"/xl/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml\"/>\
         <Override PartName=\"/docProps/core.xml\" ContentType=\"application/vnd.openxmlformats-package.core-properties+xml\"/>\
         <Override PartName=\"/docProps/app.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.extended-properties+xml\"/>"
    );
    for number in 1..=sheets {
        let _ = write!(
            xml,
            "<Override PartName=\"/{}\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>",
            sheet_path(number)
        );
    }
    xml.push_str("</Types>");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_ranges_and_defined_names() {
        assert_eq!(filter_range(8, 1_048_576), "A1:H1048576");
        assert_eq!(filter_range(1, 0), "A1:A1");
        let sheets = [SheetEntry {
            name: "O'Brien & co".into(),
            filter: Some(filter_range(28, 3)),
        }];
        let xml = workbook(&sheets);
        assert!(xml.contains("<sheet name=\"O'Brien &amp; co\" sheetId=\"1\" r:id=\"rId1\"/>"));
        assert!(xml.contains(">'O''Brien &amp; co'!$A$1:$AB$3</definedName>"));
    }
}
