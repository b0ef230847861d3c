//! PDF assembly: laid-out pages → PDF/A-2b bytes, with printpdf and lopdf.
//!
//! Stage: the last step of `render`.
//! Input: [`PageLayout`]s, the loaded [`Fonts`], the sRGB [`IccProfile`] and the
//! document's [`DocInfo`].
//! Output: the bytes of one PDF/A-2b file (fonts embedded, subset to the glyphs
//! used).
//! Failure: [`RenderError::Pdf`] when printpdf reports an error-level warning
//! or produces no bytes.
//!
//! This is the ONE place a document is assembled. printpdf 0.12 builds the pages
//! and fonts but writes neither the PDF/A identification nor a conforming output
//! intent, so the lopdf document it returns is post-processed here:
//! - header `%PDF-1.7` with a binary comment line;
//! - an XMP metadata stream (uncompressed) in the catalog with
//!   `pdfaid:part=2`, `pdfaid:conformance=B`, title, creator (the sender), dates
//!   from the event and the producer;
//! - the Info dictionary rewritten to match the XMP exactly (printpdf's empty
//!   `GTS_PDFXVersion`, `Trapped`, `Keywords` and `Identifier` are dropped);
//! - `/OutputIntents` with one `GTS_PDFA1` intent whose `DestOutputProfile` is
//!   the embedded sRGB ICC profile (`templates/icc/sRGB.icc`, `/N 3`).
//!
//! The output is deterministic: font resource names are fixed, dates come from the
//! event, and the trailer `/ID` (random in printpdf) is replaced by one derived
//! from the event id, so a re-render of the same event has the same SHA-256.
//! printpdf builds the lopdf document (and subsets the fonts); compression and
//! writing happen here.

use chrono::{DateTime, Datelike, FixedOffset, Timelike};
use printpdf::{
    Color, FontId, Greyscale, Line, LinePoint, Mm, Op, ParsedFont, PdfDocument, PdfFontHandle,
    PdfPage, PdfParseErrorSeverity, PdfSaveOptions, Point, Pt, TextItem,
};
use sha2::{Digest, Sha256};

use crate::render::layout::{FontKind, PageLayout};
use crate::render::RenderError;

/// The two faces, parsed once at start-up, each also as a pre-built subset.
#[derive(Debug)]
pub struct Fonts {
    pub regular: Face,
    pub bold: Face,
}

/// One face: the full font (subset per document, the slow path) and a subset
/// for the fixed [`in_repertoire`] character set, compressed once at start-up
/// and embedded as-is in every document that needs no other character.
#[derive(Debug)]
pub struct Face {
    full: ParsedFont,
    fixed: ParsedFont,
    fixed_raw: Vec<u8>,
    fixed_compressed: Vec<u8>,
}

/// The characters of the pre-built subset: Latin (Basic, Latin-1, Extended-A,
/// which covers Norwegian, Swedish, Danish, German, Sámi, Polish, Lithuanian …)
/// and the punctuation letters use.
pub fn in_repertoire(c: char) -> bool {
    matches!(c as u32,
        0x20..=0x7E
        | 0xA0..=0x17F
        | 0x2010..=0x2015
        | 0x2018..=0x201E
        | 0x2020..=0x2022
        | 0x2026
        | 0x2030
        | 0x2039..=0x203A
        | 0x20AC
        | 0x2122
        | 0x2212)
}

impl Face {
    /// Parses a font and builds its fixed subset.
    /// `tag` is the six-letter subset tag, [`REGULAR_ID`] or [`BOLD_ID`].
    pub fn load(bytes: &[u8], what: &str, tag: &str) -> Result<Face, RenderError> {
        let mut warnings = Vec::new();
        let full = ParsedFont::from_bytes(bytes, 0, &mut warnings).ok_or_else(|| {
            RenderError::Font(format!("{what}: not a usable TrueType font ({warnings:?})"))
        })?;
        let glyphs: std::collections::BTreeMap<u16, String> = (0u32..=0xFFFF)
            .filter_map(char::from_u32)
            .filter(|&c| in_repertoire(c))
            .filter_map(|c| {
                full.lookup_glyph_index(c as u32)
                    .filter(|&g| g != 0)
                    .map(|g| (g, c.to_string()))
            })
            .collect();
        let subset = printpdf::subset_font(&full, &glyphs)
            .map_err(|e| RenderError::Font(format!("{what}: subsetting failed: {e}")))?;
        let mut fixed =
            ParsedFont::from_bytes(&subset.bytes, 0, &mut warnings).ok_or_else(|| {
                RenderError::Font(format!("{what}: the subset does not parse ({warnings:?})"))
            })?;
        // A subset font's name carries a six-letter tag (ISO 32000-1 9.6.4).
        let base = full
            .font_name
            .clone()
            .unwrap_or_else(|| "DejaVuSans".into());
        fixed.font_name = Some(format!("{tag}+{base}"));
        // The subset keeps a Unicode cmap; check that every character maps.
        if let Some(c) = (0u32..=0xFFFF)
            .filter_map(char::from_u32)
            .filter(|&c| {
                in_repertoire(c) && full.lookup_glyph_index(c as u32).is_some_and(|g| g != 0)
            })
            .find(|&c| fixed.lookup_glyph_index(c as u32).is_none_or(|g| g == 0))
        {
            return Err(RenderError::Font(format!(
                "{what}: the subset lost U+{:04X}",
                c as u32
            )));
        }
        let fixed_compressed = deflate(&subset.bytes, 9)?;
        Ok(Face {
            full,
            fixed,
            fixed_raw: subset.bytes,
            fixed_compressed,
        })
    }

    /// The full font, for metrics.
    pub fn full(&self) -> &ParsedFont {
        &self.full
    }
}

fn deflate(data: &[u8], level: u32) -> Result<Vec<u8>, RenderError> {
    use std::io::Write;
    let mut enc = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(data.len() / 2),
        flate2::Compression::new(level),
    );
    enc.write_all(data)
        .and_then(|_| enc.finish())
        .map_err(|e| RenderError::Pdf(format!("compressing a stream: {e}")))
}

/// The output intent's ICC profile, checked and compressed once at start-up.
#[derive(Debug)]
pub struct IccProfile {
    compressed: Vec<u8>,
}

impl IccProfile {
    /// Checks that `bytes` is an RGB ICC profile (header size, `acsp` signature,
    /// colour space `RGB `) and compresses it for embedding.
    pub fn load(bytes: &[u8], what: &str) -> Result<IccProfile, RenderError> {
        let declared = bytes
            .get(0..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
        if bytes.len() < 128
            || declared != Some(bytes.len())
            || bytes.get(36..40) != Some(b"acsp".as_slice())
        {
            return Err(RenderError::Pdf(format!("{what}: not an ICC profile")));
        }
        if bytes.get(16..20) != Some(b"RGB ".as_slice()) {
            return Err(RenderError::Pdf(format!(
                "{what}: the output intent needs an RGB profile (/N 3)"
            )));
        }
        Ok(IccProfile {
            compressed: deflate(bytes, 9)?,
        })
    }
}

/// Document metadata; the same values go into the Info dictionary and the XMP.
#[derive(Debug)]
pub struct DocInfo<'a> {
    pub title: &'a str,
    /// The sender (dc:creator, /Author).
    pub author: &'a str,
    pub subject: &'a str,
    /// Seeds the trailer `/ID`; the event id.
    pub identifier: &'a str,
    pub created: DateTime<FixedOffset>,
}

// Six capital letters each: printpdf uses the first six characters of the font id
// as the subset tag (ISO 32000-1 9.6.4 wants six upper-case letters).
pub const REGULAR_ID: &str = "DOKFRE";
pub const BOLD_ID: &str = "DOKFBO";
/// zlib level for content streams. With the zlib-rs backend, level 4 gives the
/// size of miniz level 6 (74.5 KB letter, +2.7 % on a 20-page report) in 0.46
/// instead of 0.62 ms per letter (`dokflyt bench render`).
const COMPRESSION_LEVEL: u32 = 4;

fn pdf_date(d: DateTime<FixedOffset>) -> printpdf::DateTime {
    let offset_secs = d.offset().local_minus_utc();
    printpdf::DateTime::new_in_offset(
        printpdf::Date {
            year: d.year(),
            month: d.month() as u8,
            day: d.day() as u8,
        },
        printpdf::Time {
            hour: d.hour() as u8,
            minute: d.minute() as u8,
            second: d.second() as u8,
            millisecond: 0,
        },
        printpdf::Offset {
            hours: (offset_secs / 3600) as i8,
            minutes: ((offset_secs.abs() % 3600) / 60) as i8,
            seconds: 0,
            milliseconds: 0,
        },
    )
}

/// Builds and serialises the document.
pub fn assemble(
    pages: &[PageLayout],
    fonts: &Fonts,
    icc: &IccProfile,
    info: &DocInfo,
) -> Result<Vec<u8>, RenderError> {
    // Fast path: every character is in the pre-built subsets, which are embedded
    // whole (already compressed). Otherwise printpdf subsets the full fonts.
    let fast = pages
        .iter()
        .flat_map(|p| &p.runs)
        .all(|r| r.text.chars().all(in_repertoire));
    let pick = |f: &Face| {
        if fast {
            f.fixed.clone()
        } else {
            f.full.clone()
        }
    };
    let mut doc = PdfDocument::new(info.title);
    let regular_id = FontId(REGULAR_ID.to_string());
    let bold_id = FontId(BOLD_ID.to_string());
    doc.resources.fonts.map.insert(
        regular_id.clone(),
        printpdf::PdfFont::new(pick(&fonts.regular)),
    );
    doc.resources
        .fonts
        .map
        .insert(bold_id.clone(), printpdf::PdfFont::new(pick(&fonts.bold)));
    {
        // printpdf writes these into its Info dictionary, which `make_pdfa`
        // replaces; set anyway so nothing contradicts if that ever changes.
        let meta = &mut doc.metadata.info;
        meta.author = info.author.to_string();
        meta.subject = info.subject.to_string();
        meta.creator = CREATOR.to_string();
        meta.producer = PRODUCER.to_string();
        let created = pdf_date(info.created);
        meta.creation_date = created;
        meta.modification_date = created;
        meta.metadata_date = created;
    }

    let black = Color::Greyscale(Greyscale {
        percent: 0.0,
        icc_profile: None,
    });
    let grey = Color::Greyscale(Greyscale {
        percent: 0.35,
        icc_profile: None,
    });

    let pdf_pages = pages
        .iter()
        .map(|page| {
            let mut ops = Vec::with_capacity(page.runs.len() * 6 + page.rules.len() * 3 + 4);
            if !page.rules.is_empty() {
                ops.push(Op::SetOutlineColor { col: grey.clone() });
                ops.push(Op::SetOutlineThickness { pt: Pt(0.5) });
                for r in &page.rules {
                    ops.push(Op::DrawLine {
                        line: Line {
                            points: vec![
                                LinePoint {
                                    p: Point {
                                        x: Pt(r.x1),
                                        y: Pt(r.y),
                                    },
                                    bezier: false,
                                },
                                LinePoint {
                                    p: Point {
                                        x: Pt(r.x2),
                                        y: Pt(r.y),
                                    },
                                    bezier: false,
                                },
                            ],
                            is_closed: false,
                        },
                    });
                }
            }
            let mut is_grey = None;
            for run in &page.runs {
                if is_grey != Some(run.grey) {
                    let col = if run.grey {
                        grey.clone()
                    } else {
                        black.clone()
                    };
                    ops.push(Op::SetFillColor { col });
                    is_grey = Some(run.grey);
                }
                let font = match run.font {
                    FontKind::Regular => regular_id.clone(),
                    FontKind::Bold => bold_id.clone(),
                };
                // BT resets the text matrix, so the Td of SetTextCursor is absolute.
                ops.push(Op::StartTextSection);
                ops.push(Op::SetFont {
                    font: PdfFontHandle::External(font),
                    size: Pt(run.size),
                });
                ops.push(Op::SetTextCursor {
                    pos: Point {
                        x: Pt(run.x),
                        y: Pt(run.y),
                    },
                });
                ops.push(Op::ShowText {
                    items: vec![TextItem::Text(run.text.clone())],
                });
                ops.push(Op::EndTextSection);
            }
            PdfPage::new(Mm(210.0), Mm(297.0), ops)
        })
        .collect();
    doc.with_pages(pdf_pages);

    let opts = PdfSaveOptions {
        optimize: false,
        subset_fonts: !fast,
        secure: true,
        image_optimization: None,
    };
    let mut warnings = Vec::new();
    let mut ldoc = doc.to_lopdf_document(&opts, &mut warnings);
    if let Some(w) = warnings
        .iter()
        .find(|w| w.severity == PdfParseErrorSeverity::Error)
    {
        return Err(RenderError::Pdf(w.msg.clone()));
    }
    if fast {
        put_precompressed_fonts(&mut ldoc, fonts);
    }
    compress_streams(&mut ldoc)?;
    // After compression: the XMP stream must stay uncompressed.
    make_pdfa(&mut ldoc, icc, info)?;
    // printpdf's trailer /ID is random; derive it from the event id instead.
    let id = hex::encode(&Sha256::digest(info.identifier.as_bytes())[..16]);
    ldoc.trailer.set(
        "ID",
        lopdf::Object::Array(vec![
            lopdf::Object::String(id.clone().into_bytes(), lopdf::StringFormat::Literal),
            lopdf::Object::String(id.into_bytes(), lopdf::StringFormat::Literal),
        ]),
    );
    let mut bytes = Vec::with_capacity(64 * 1024);
    ldoc.save_to(&mut bytes)
        .map_err(|e| RenderError::Pdf(format!("writing the PDF: {e}")))?;
    if !bytes.starts_with(b"%PDF-") {
        return Err(RenderError::Pdf("printpdf produced no PDF".into()));
    }
    Ok(bytes)
}

/// Info /Creator and xmp:CreatorTool.
const CREATOR: &str = "dokflyt";
/// Info /Producer and pdf:Producer.
const PRODUCER: &str = "dokflyt (printpdf 0.12, lopdf)";

/// Adds what PDF/A-2b needs and printpdf does not write (see the module doc).
fn make_pdfa(
    doc: &mut lopdf::Document,
    icc: &IccProfile,
    info: &DocInfo,
) -> Result<(), RenderError> {
    use lopdf::{Dictionary, Object, Stream, StringFormat};

    doc.version = "1.7".to_string();
    // A comment of four bytes ≥ 128 after the header (ISO 19005-2 6.1.2).
    doc.binary_mark = vec![0xE2, 0xE3, 0xCF, 0xD3];

    let root = doc
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(|e| RenderError::Pdf(format!("the document has no catalog: {e}")))?;

    // The ICC profile (already compressed) and the output intent.
    let mut icc_dict = Dictionary::new();
    icc_dict.set("N", 3);
    icc_dict.set("Filter", "FlateDecode");
    let mut icc_stream = Stream::new(icc_dict, icc.compressed.clone());
    icc_stream.allows_compression = false;
    let icc_id = doc.add_object(icc_stream);
    let mut intent = Dictionary::new();
    intent.set("Type", "OutputIntent");
    intent.set("S", "GTS_PDFA1");
    intent.set(
        "OutputConditionIdentifier",
        Object::string_literal(OUTPUT_CONDITION),
    );
    intent.set("Info", Object::string_literal(OUTPUT_CONDITION));
    intent.set(
        "RegistryName",
        Object::string_literal("http://www.color.org"),
    );
    intent.set("DestOutputProfile", Object::Reference(icc_id));

    // XMP metadata, uncompressed (ISO 19005-2 6.6.2.1).
    let xmp = xmp_packet(info);
    let mut xmp_dict = Dictionary::new();
    xmp_dict.set("Type", "Metadata");
    xmp_dict.set("Subtype", "XML");
    let mut xmp_stream = Stream::new(xmp_dict, xmp.into_bytes());
    xmp_stream.allows_compression = false;
    let xmp_id = doc.add_object(xmp_stream);

    let catalog = doc
        .get_object_mut(root)
        .and_then(Object::as_dict_mut)
        .map_err(|e| RenderError::Pdf(format!("the catalog is not a dictionary: {e}")))?;
    catalog.set("Metadata", Object::Reference(xmp_id));
    catalog.set(
        "OutputIntents",
        Object::Array(vec![Object::Dictionary(intent)]),
    );

    // The Info dictionary, exactly the XMP's values.
    let date = Object::String(info_date(info.created).into_bytes(), StringFormat::Literal);
    let mut dict = Dictionary::new();
    dict.set("Title", text_string(info.title));
    dict.set("Author", text_string(info.author));
    dict.set("Subject", text_string(info.subject));
    dict.set("Creator", text_string(CREATOR));
    dict.set("Producer", text_string(PRODUCER));
    dict.set("CreationDate", date.clone());
    dict.set("ModDate", date);
    match doc.trailer.get(b"Info").and_then(Object::as_reference) {
        Ok(id) => {
            doc.objects.insert(id, Object::Dictionary(dict));
        }
        Err(_) => {
            let id = doc.add_object(dict);
            doc.trailer.set("Info", Object::Reference(id));
        }
    }
    Ok(())
}

/// The output intent's condition (ISO 19005-2 6.2.3).
const OUTPUT_CONDITION: &str = "sRGB IEC61966-2.1";

/// A PDF text string: PDFDocEncoding-safe ASCII as is, anything else UTF-16BE
/// with a byte-order mark.
fn text_string(s: &str) -> lopdf::Object {
    if s.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        lopdf::Object::String(s.as_bytes().to_vec(), lopdf::StringFormat::Literal)
    } else {
        let mut bytes = vec![0xFE, 0xFF];
        for unit in s.encode_utf16() {
            bytes.extend_from_slice(&unit.to_be_bytes());
        }
        lopdf::Object::String(bytes, lopdf::StringFormat::Hexadecimal)
    }
}

/// `D:20261123091500+01'00'` (ISO 32000-1 7.9.4).
fn info_date(d: DateTime<FixedOffset>) -> String {
    let offset = d.offset().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.abs();
    format!(
        "D:{}{sign}{:02}'{:02}'",
        d.format("%Y%m%d%H%M%S"),
        abs / 3600,
        (abs % 3600) / 60
    )
}

/// `2026-11-23T09:15:00+01:00`: the same instant as [`info_date`].
fn xmp_date(d: DateTime<FixedOffset>) -> String {
    d.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// The XMP packet: PDF/A identification, Dublin Core, XMP basic and PDF schemas.
fn xmp_packet(info: &DocInfo) -> String {
    let date = xmp_date(info.created);
    format!(
        r#"<?xpacket begin="{bom}" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
   <pdfaid:part>2</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:format>application/pdf</dc:format>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
   <dc:creator><rdf:Seq><rdf:li>{author}</rdf:li></rdf:Seq></dc:creator>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{subject}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
   <xmp:CreateDate>{date}</xmp:CreateDate>
   <xmp:ModifyDate>{date}</xmp:ModifyDate>
   <xmp:MetadataDate>{date}</xmp:MetadataDate>
   <xmp:CreatorTool>{creator}</xmp:CreatorTool>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdf:Producer>{producer}</pdf:Producer>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"#,
        bom = '\u{FEFF}',
        title = crate::xml::escape(info.title),
        author = crate::xml::escape(info.author),
        subject = crate::xml::escape(info.subject),
        creator = crate::xml::escape(CREATOR),
        producer = crate::xml::escape(PRODUCER),
    )
}

/// Swaps the fixed subsets' font programs for their compressed bytes.
fn put_precompressed_fonts(doc: &mut lopdf::Document, fonts: &Fonts) {
    for object in doc.objects.values_mut() {
        let lopdf::Object::Stream(stream) = object else {
            continue;
        };
        for face in [&fonts.regular, &fonts.bold] {
            if stream.content.len() == face.fixed_raw.len() && stream.content == face.fixed_raw {
                stream.dict.set("Filter", "FlateDecode");
                stream.set_content(face.fixed_compressed.clone());
                break;
            }
        }
    }
}

/// Flate-compresses every stream not yet filtered. lopdf's own `compress` uses
/// level 9, which cost 40 % of a render for a few percent of size; see
/// [`COMPRESSION_LEVEL`].
fn compress_streams(doc: &mut lopdf::Document) -> Result<(), RenderError> {
    for object in doc.objects.values_mut() {
        let lopdf::Object::Stream(stream) = object else {
            continue;
        };
        if !stream.allows_compression || stream.dict.get(b"Filter").is_ok() {
            continue;
        }
        let compressed = deflate(&stream.content, COMPRESSION_LEVEL)?;
        if compressed.len() + 19 < stream.content.len() {
            stream.dict.set("Filter", "FlateDecode");
            stream.set_content(compressed);
        }
    }
    Ok(())
}
