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

/// The two faces, parsed once at start-up.
#[derive(Debug)]
pub struct Fonts {
    pub regular: ParsedFont,
    pub bold: ParsedFont,
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
const REGULAR_ID: &str = "DOKFRE";
const BOLD_ID: &str = "DOKFBO";
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
    let mut doc = PdfDocument::new(info.title);
    let regular_id = FontId(REGULAR_ID.to_string());
    let bold_id = FontId(BOLD_ID.to_string());
    doc.resources.fonts.map.insert(
        regular_id.clone(),
        printpdf::PdfFont::new(fonts.regular.clone()),
    );
    doc.resources
        .fonts
        .map
        .insert(bold_id.clone(), printpdf::PdfFont::new(fonts.bold.clone()));
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
        subset_fonts: true,
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

/// Flate-compresses every stream not yet filtered. lopdf's own `compress` uses
/// level 9, which cost 40 % of a render for a few percent of size; level 6 is
/// zlib's default trade-off.
fn compress_streams(doc: &mut lopdf::Document) -> Result<(), RenderError> {
    use std::io::Write;
    for object in doc.objects.values_mut() {
        let lopdf::Object::Stream(stream) = object else {
            continue;
        };
        if !stream.allows_compression || stream.dict.get(b"Filter").is_ok() {
            continue;
        }
        let mut enc = flate2::write::ZlibEncoder::new(
            Vec::with_capacity(stream.content.len() / 2),
            flate2::Compression::new(COMPRESSION_LEVEL),
        );
        enc.write_all(&stream.content)
            .and_then(|_| enc.finish())
            .map_err(|e| RenderError::Pdf(format!("compressing a stream: {e}")))
            .map(|compressed| {
                if compressed.len() + 19 < stream.content.len() {
                    stream.dict.set("Filter", "FlateDecode");
                    stream.set_content(compressed);
                }
            })?;
    }
    Ok(())
}
