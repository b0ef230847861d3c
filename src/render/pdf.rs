//! PDF assembly: laid-out pages → PDF bytes, with printpdf.
//!
//! Stage: the last step of `render`.
//! Input: [`PageLayout`]s, the loaded [`Fonts`] and the document's [`DocInfo`].
//! Output: the bytes of one PDF (fonts embedded, subset to the glyphs used).
//! Failure: [`RenderError::Pdf`] when printpdf reports an error-level warning
//! or produces no bytes.
//!
//! This is the ONE place a document is assembled; PDF/A (XMP metadata, output
//! intent, conformance level) belongs here when that issue comes.
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

/// Document metadata.
#[derive(Debug)]
pub struct DocInfo<'a> {
    pub title: &'a str,
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
/// zlib level for content and font streams.
const COMPRESSION_LEVEL: u32 = 6;

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
        let meta = &mut doc.metadata.info;
        meta.author = info.author.to_string();
        meta.subject = info.subject.to_string();
        meta.identifier = info.identifier.to_string();
        meta.creator = "dokflyt".to_string();
        meta.producer = "dokflyt (printpdf)".to_string();
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
/// level 9, which cost 40 % of a render for a few percent of size; level 6 is
/// zlib's default trade-off.
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
