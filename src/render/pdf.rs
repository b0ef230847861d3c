//! PDF assembly: laid-out pages → one tagged PDF/A-2a + PDF/UA-1 file, by krilla.
//!
//! Stage: the last step of `render`.
//! Input: the [`PageLayout`]s (glyph positions are ours: `layout` measured every
//! line with the fonts' advances), the markup [`Block`]s they came from (the
//! logical structure), the loaded [`Fonts`] and the document's [`DocInfo`].
//! Output: the bytes of one PDF. krilla (the typst project's PDF library) writes
//! it and checks the PDF/A-2a and PDF/UA-1 rules while it does; it subsets the
//! fonts, writes `ToUnicode` maps, the XMP identification (`pdfaid` and
//! `pdfuaid`), the sRGB output intent with its own vetted profile, the structure
//! tree, and `DisplayDocTitle`.
//! Failure: [`RenderError::Pdf`] when krilla finds a rule broken (named by the
//! rule only: the error never carries document text); a character no face has is
//! drawn as `?` (so there is never a `.notdef` glyph on the page).
//!
//! Why PDF/A-2a and not -2u: -2a adds to -2u that the file is tagged with its
//! logical structure, which PDF/UA-1 requires anyway; it costs nothing extra here
//! and tells an archive depot's validator that the structure is part of the
//! promise. Measured by `dokflyt-dev bench render` (README «Rendering benchmark»).
//!
//! The structure tree (reading order = markup order): `@marking` → P (on the
//! first page; its copies on later pages are artifacts), letterhead lines, right
//! lines, small print, paragraphs and line groups → P, `#` → H1 and `##` → H2
//! (with their text as title), consecutive bullets → L with LI (Lbl «•», LBody),
//! consecutive facts → Table of TR (TH scope Row, TD), tables → Table with THead
//! (TH scope Column, once: the header repeated on later pages is an artifact) and
//! TBody; page numbers, the running footer and the rules are artifacts. The
//! document language is the tree's and the catalog's; `@lang` passages carry
//! their own on each element.
//!
//! Fonts: each face is a reduced font (`templates/fonts/*-letters.ttf`, made by
//! `templates/fonts/reduce.sh` with fontTools) with the full font as fallback for
//! any character outside the reduced repertoire. Both are loaded once per process
//! ([`Fonts::load`]); krilla subsets whatever a document uses.
//!
//! Deterministic: no clock and no randomness; dates come from the event and the
//! file identifier from the event id, so a re-render of the same event has the same
//! SHA-256.

use std::collections::HashMap;
use std::num::NonZeroU16;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Datelike, FixedOffset, Timelike};
use krilla::color::rgb;
use krilla::configure::{Accessibility, Archival, ConfigurationBuilder};
use krilla::destination::XyzDestination;
use krilla::geom::{PathBuilder, Point, Size};
use krilla::metadata::Metadata;
use krilla::outline::{Outline, OutlineNode};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::tagging::{
    Artifact, ArtifactType, ContentTag, Identifier, ListNumbering, Node, SpanTag, TableHeaderScope,
    Tag, TagGroup, TagTree,
};
use krilla::text::{Font, GlyphId, KrillaGlyph};
use krilla::{Document, SerializeSettings};

use crate::render::layout::{FaceMetrics, FontKind, Leaf, PageLayout, PAGE_H, PAGE_W};
use crate::render::markup::Block;
use crate::render::RenderError;

/// Grey of rules and small print (sRGB).
const GREY: u8 = 89;

/// One loaded font file: krilla's handle and our character → glyph map.
struct LoadedFont {
    font: Font,
    /// BMP code point → glyph id (0: not in this font).
    bmp: Vec<u16>,
    astral: HashMap<char, u16>,
    units_per_em: u16,
    /// Advance per glyph id, in font units.
    advances: Vec<u16>,
}

impl LoadedFont {
    fn load(path: &Path) -> Result<LoadedFont, RenderError> {
        let what = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| RenderError::Font(format!("{what}: {e}")))?;
        let face = ttf_parser::Face::parse(&bytes, 0)
            .map_err(|e| RenderError::Font(format!("{what}: {e}")))?;
        let mut bmp = vec![0u16; 0x10000];
        let mut astral = HashMap::new();
        if let Some(cmap) = face.tables().cmap {
            for sub in cmap.subtables.into_iter().filter(|s| s.is_unicode()) {
                sub.codepoints(|cp| {
                    let Some(c) = char::from_u32(cp) else { return };
                    let Some(gid) = sub.glyph_index(cp).map(|g| g.0).filter(|g| *g != 0) else {
                        return;
                    };
                    if cp <= 0xFFFF {
                        if bmp[cp as usize] == 0 {
                            bmp[cp as usize] = gid;
                        }
                    } else {
                        astral.entry(c).or_insert(gid);
                    }
                });
            }
        }
        let advances = (0..face.number_of_glyphs())
            .map(|g| face.glyph_hor_advance(ttf_parser::GlyphId(g)).unwrap_or(0))
            .collect();
        let units_per_em = face.units_per_em();
        let font = Font::new(bytes.into(), 0)
            .ok_or_else(|| RenderError::Font(format!("{what}: krilla cannot read the font")))?;
        Ok(LoadedFont {
            font,
            bmp,
            astral,
            units_per_em,
            advances,
        })
    }

    fn glyph(&self, c: char) -> Option<u16> {
        let gid = match self.bmp.get(c as usize) {
            Some(g) => *g,
            None => self.astral.get(&c).copied().unwrap_or(0),
        };
        (gid != 0).then_some(gid)
    }

    fn advance(&self, c: char) -> Option<u16> {
        self.glyph(c)
            .map(|g| self.advances.get(usize::from(g)).copied().unwrap_or(0))
    }
}

/// One face: the reduced font and the full one behind it.
struct Face {
    reduced: LoadedFont,
    full: LoadedFont,
}

impl Face {
    /// Which font draws `c` (the reduced one when it can) and its glyph; `None`
    /// when neither has it.
    fn pick(&self, c: char) -> Option<(bool, u16)> {
        if let Some(g) = self.reduced.glyph(c) {
            return Some((false, g));
        }
        self.full.glyph(c).map(|g| (true, g))
    }

    /// Advances as the layout measures them: the full font's (the reduced one
    /// keeps the same metrics).
    fn metrics(&self) -> FaceMetrics {
        let astral: Vec<char> = self.full.astral.keys().copied().collect();
        FaceMetrics::build(self.full.units_per_em, |c| self.full.advance(c), astral)
    }
}

/// The regular and bold faces, each reduced + full; loaded once per process.
pub struct Fonts {
    regular: Face,
    bold: Face,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts").finish_non_exhaustive()
    }
}

/// The font files, relative to the templates directory.
pub struct FontFiles<'a> {
    pub regular: &'a str,
    pub regular_reduced: &'a str,
    pub bold: &'a str,
    pub bold_reduced: &'a str,
}

impl Fonts {
    /// Loads the four files below `dir`, once per process and directory: a second
    /// renderer over the same templates shares them (and krilla's caches keyed
    /// by font).
    pub fn load(dir: &Path, files: &FontFiles<'_>) -> Result<Arc<Fonts>, RenderError> {
        static LOADED: OnceLock<Mutex<HashMap<std::path::PathBuf, Arc<Fonts>>>> = OnceLock::new();
        let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let cache = LOADED.get_or_init(|| Mutex::new(HashMap::new()));
        if let Some(f) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(f);
        }
        let fonts = Arc::new(Fonts {
            regular: Face {
                reduced: LoadedFont::load(&dir.join(files.regular_reduced))?,
                full: LoadedFont::load(&dir.join(files.regular))?,
            },
            bold: Face {
                reduced: LoadedFont::load(&dir.join(files.bold_reduced))?,
                full: LoadedFont::load(&dir.join(files.bold))?,
            },
        });
        if let Ok(mut c) = cache.lock() {
            c.insert(key, fonts.clone());
        }
        Ok(fonts)
    }

    fn face(&self, kind: FontKind) -> &Face {
        match kind {
            FontKind::Regular => &self.regular,
            FontKind::Bold => &self.bold,
        }
    }

    /// The layout's metrics for both faces.
    pub fn metrics(&self) -> crate::render::layout::Metrics {
        crate::render::layout::Metrics {
            regular: self.regular.metrics(),
            bold: self.bold.metrics(),
        }
    }
}

/// Document metadata; it goes into the Info dictionary and the XMP.
#[derive(Debug)]
pub struct DocInfo<'a> {
    pub title: &'a str,
    /// The sender (dc:creator, /Author).
    pub author: &'a str,
    pub subject: &'a str,
    /// Seeds the file identifier; the event id.
    pub identifier: &'a str,
    pub created: DateTime<FixedOffset>,
    /// The document's language (BCP 47: `nb-NO`, `nn-NO`).
    pub language: &'a str,
    /// The letterhead logo and its alternative text.
    pub logo: Option<(&'a krilla::image::Image, &'a str)>,
}

/// Info /Creator and xmp:CreatorTool.
const CREATOR: &str = "dokflyt";
/// Info /Producer and pdf:Producer.
const PRODUCER: &str = "dokflyt with krilla 0.8";

/// The export settings: PDF/A-2a and PDF/UA-1 (PDF 1.7), tagged, compressed.
fn settings() -> Result<SerializeSettings, RenderError> {
    let configuration = ConfigurationBuilder::new()
        .with_archival_validator(Archival::A2_A)
        .with_accessibility_validator(Accessibility::UA1)
        .finish()
        .map_err(|e| RenderError::Pdf(format!("krilla configuration: {e:?}")))?;
    Ok(SerializeSettings {
        compress_content_streams: true,
        enable_tagging: true,
        xmp_metadata: true,
        configuration,
        ..SerializeSettings::default()
    })
}

fn krilla_date(t: DateTime<FixedOffset>) -> krilla::metadata::DateTime {
    let offset = t.offset().local_minus_utc();
    let hours = offset / 3600;
    let minutes = (offset.abs() % 3600) / 60;
    krilla::metadata::DateTime::new(u16::try_from(t.year()).unwrap_or(0))
        .month(t.month() as u8)
        .day(t.day() as u8)
        .hour(t.hour() as u8)
        .minute(t.minute() as u8)
        .second(t.second() as u8)
        .utc_offset_hour(i8::try_from(hours).unwrap_or(0))
        .utc_offset_minute(u8::try_from(minutes).unwrap_or(0))
}

/// A validation or export error by kind only (its details can quote text).
fn describe(e: &krilla::error::KrillaError) -> String {
    let full = format!("{e:?}");
    let mut kinds: Vec<String> = Vec::new();
    if let krilla::error::KrillaError::Validation(errors) = e {
        for (v, _) in errors {
            let name = format!("{v:?}");
            let name = name.split(['(', ' ', '{']).next().unwrap_or("").to_string();
            if !kinds.contains(&name) {
                kinds.push(name);
            }
        }
        return format!(
            "the PDF/A-2a / PDF/UA-1 checks failed: {}",
            kinds.join(", ")
        );
    }
    let name = full.split(['(', ' ', '{']).next().unwrap_or("").to_string();
    format!("krilla could not write the PDF: {name}")
}

/// The identifiers (marked-content sequences) drawn for each leaf, in drawing order.
type Leaves = HashMap<(usize, usize, usize), Vec<Identifier>>;

/// Assembles the document.
pub fn assemble(
    pages: &[PageLayout],
    blocks: &[Block],
    fonts: &Fonts,
    info: &DocInfo<'_>,
) -> Result<Vec<u8>, RenderError> {
    let mut doc = Document::new_with(settings()?);
    let size =
        Size::from_wh(PAGE_W, PAGE_H).ok_or_else(|| RenderError::Pdf("the page size".into()))?;
    let mut leaves: Leaves = HashMap::new();
    let black = Fill {
        paint: rgb::Color::new(0, 0, 0).into(),
        ..Fill::default()
    };
    let grey = Fill {
        paint: rgb::Color::new(GREY, GREY, GREY).into(),
        ..Fill::default()
    };
    // The last run of each leaf: every other one ends with a space, so that
    // words at line ends stay apart in the extracted text (PDF/A-2a 6.8.2.4).
    let mut last: HashMap<Leaf, (usize, usize)> = HashMap::new();
    for (p, layout) in pages.iter().enumerate() {
        for (r, run) in layout.runs.iter().enumerate() {
            if run.leaf != Leaf::Artifact {
                last.insert(run.leaf, (p, r));
            }
        }
    }
    let mut glyphs: Vec<KrillaGlyph> = Vec::new();
    let mut text = String::new();
    // Where each block starts (page, top left in krilla's top-down coordinates),
    // for the outline.
    let mut starts: HashMap<usize, (usize, Point)> = HashMap::new();
    let mut logo_id: Option<Identifier> = None;
    for (p, layout) in pages.iter().enumerate() {
        let mut page = doc.start_page_with(PageSettings::new(size));
        let mut surface = page.surface();
        if let (Some(b), Some((image, _))) = (layout.logo, info.logo) {
            if let Some(image_size) = Size::from_wh(b.w, b.h) {
                let id = surface.start_tagged(ContentTag::Other);
                surface.push_transform(&krilla::geom::Transform::from_translate(
                    b.x,
                    PAGE_H - b.y - b.h,
                ));
                surface.draw_image(image.clone(), image_size);
                surface.pop();
                surface.end_tagged();
                logo_id = Some(id);
            }
        }
        for (r, run) in layout.runs.iter().enumerate() {
            let continues = run.leaf != Leaf::Artifact
                && !run.text.is_empty()
                && last.get(&run.leaf) != Some(&(p, r));
            let tag = match run.leaf {
                Leaf::Artifact => {
                    ContentTag::Artifact(Artifact::with_kind(if run.text.starts_with("Side ") {
                        ArtifactType::PageNumber
                    } else {
                        ArtifactType::PaginationOther
                    }))
                }
                Leaf::Block { .. } => ContentTag::Span(SpanTag::empty()),
            };
            let id = surface.start_tagged(tag);
            surface.set_fill(Some(if run.grey {
                grey.clone()
            } else {
                black.clone()
            }));
            draw_run(
                &mut surface,
                fonts.face(run.font),
                run,
                continues,
                &mut glyphs,
                &mut text,
            );
            surface.end_tagged();
            if let Leaf::Block { block, row, col } = run.leaf {
                leaves.entry((block, row, col)).or_default().push(id);
                starts
                    .entry(block)
                    .or_insert((p, Point::from_xy(run.x, PAGE_H - run.y - run.size)));
            }
        }
        if !layout.rules.is_empty() {
            surface.start_tagged(ContentTag::Artifact(Artifact::with_kind(
                ArtifactType::Layout,
            )));
            surface.set_fill(None);
            surface.set_stroke(Some(Stroke {
                paint: rgb::Color::new(GREY, GREY, GREY).into(),
                width: 0.5,
                ..Stroke::default()
            }));
            for rule in &layout.rules {
                let mut pb = PathBuilder::new();
                pb.move_to(rule.x1, PAGE_H - rule.y);
                pb.line_to(rule.x2, PAGE_H - rule.y);
                if let Some(path) = pb.finish() {
                    surface.draw_path(&path);
                }
            }
            surface.set_stroke(None);
            surface.end_tagged();
        }
        surface.finish();
        page.finish();
    }

    let mut tree = tag_tree(blocks, &mut leaves, info.language);
    if let (Some(id), Some((_, alt))) = (logo_id, info.logo) {
        // First in reading order: the letterhead starts with it.
        let figure =
            TagGroup::with_children(Tag::Figure(Some(alt.to_string())), vec![Node::Leaf(id)]);
        tree.children.insert(0, figure.into());
    }
    doc.set_tag_tree(tree);
    doc.set_outline(outline(blocks, &starts));
    doc.set_metadata(
        Metadata::new()
            .title(info.title.to_string())
            .authors(vec![info.author.to_string()])
            .description(info.subject.to_string())
            .creator(CREATOR.to_string())
            .producer(PRODUCER.to_string())
            .language(info.language.to_string())
            .document_id(info.identifier.to_string())
            .creation_date(krilla_date(info.created)),
    );
    doc.finish().map_err(|e| RenderError::Pdf(describe(&e)))
}

/// Draws one run: split into pieces by the font that has the glyphs (reduced,
/// full), positioned with the layout's advances. A character neither has is
/// drawn, and extracted, as `?`.
fn draw_run(
    surface: &mut Surface<'_>,
    face: &Face,
    run: &crate::render::layout::Run,
    space_after: bool,
    glyphs: &mut Vec<KrillaGlyph>,
    text: &mut String,
) {
    let mut x = run.x;
    let y = PAGE_H - run.y;
    let mut current: Option<bool> = None;
    glyphs.clear();
    text.clear();
    let flush = |surface: &mut Surface<'_>,
                 full: bool,
                 glyphs: &mut Vec<KrillaGlyph>,
                 text: &mut String,
                 x: &mut f32| {
        if glyphs.is_empty() {
            return;
        }
        let font = if full { &face.full } else { &face.reduced };
        let width: f32 = glyphs.iter().map(|g| g.x_advance).sum::<f32>() * run.size;
        surface.draw_glyphs(
            Point::from_xy(*x, y),
            glyphs,
            font.font.clone(),
            text,
            run.size,
            false,
        );
        *x += width;
        glyphs.clear();
        text.clear();
    };
    let space = space_after.then_some(' ');
    for c in run.text.chars().chain(space) {
        let (full, gid, c) = match face.pick(c) {
            Some((full, gid)) => (full, gid, c),
            None => match face.pick('?') {
                Some((full, gid)) => (full, gid, '?'),
                None => continue,
            },
        };
        if current.is_some_and(|f| f != full) {
            flush(surface, current == Some(true), glyphs, text, &mut x);
        }
        current = Some(full);
        let font = if full { &face.full } else { &face.reduced };
        let upem = f32::from(font.units_per_em.max(1));
        let advance = f32::from(font.advances.get(usize::from(gid)).copied().unwrap_or(0)) / upem;
        let start = text.len();
        text.push(c);
        glyphs.push(KrillaGlyph::new(
            GlyphId::new(u32::from(gid)),
            advance,
            0.0,
            0.0,
            0.0,
            start..text.len(),
            None,
        ));
    }
    if let Some(full) = current {
        flush(surface, full, glyphs, text, &mut x);
    }
}

/// The bookmarks (PDF/UA-1 wants them): the title, with the headings under it.
fn outline(blocks: &[Block], starts: &HashMap<usize, (usize, Point)>) -> Outline {
    let mut outline = Outline::new();
    let mut top: Option<OutlineNode> = None;
    for (i, block) in blocks.iter().enumerate() {
        let Some(&(page, point)) = starts.get(&i) else {
            continue;
        };
        let node = |t: &str| OutlineNode::new(t.to_string(), XyzDestination::new(page, point));
        match block {
            Block::Title(t) => {
                if let Some(done) = top.take() {
                    outline.push_child(done);
                }
                top = Some(node(t).with_open(true));
            }
            Block::Heading(t) => match &mut top {
                Some(parent) => parent.push_child(node(t)),
                None => outline.push_child(node(t)),
            },
            _ => {}
        }
    }
    if let Some(done) = top {
        outline.push_child(done);
    }
    outline
}

/// The structure tree, in markup order.
fn tag_tree(blocks: &[Block], leaves: &mut Leaves, language: &str) -> TagTree {
    let mut tree = TagTree::new().with_lang(Some(language.to_string()));
    let mut lang: Option<String> = None;
    let mut ids = |block: usize, row: usize, col: usize| -> Vec<Node> {
        leaves
            .remove(&(block, row, col))
            .unwrap_or_default()
            .into_iter()
            .map(Node::Leaf)
            .collect()
    };
    let mut i = 0;
    while i < blocks.len() {
        let group: Option<TagGroup> = match &blocks[i] {
            Block::Lang(code) => {
                lang = (!code.is_empty()).then(|| code.clone());
                None
            }
            Block::Running(_) | Block::Space => None,
            Block::Marking(_)
            | Block::School(_)
            | Block::Municipality(_)
            | Block::Right(_)
            | Block::Small(_)
            | Block::Lines(_)
            | Block::Paragraph(_) => Some(TagGroup::with_children(Tag::P, ids(i, 0, 0))),
            Block::Title(t) => Some(TagGroup::with_children(
                Tag::Hn(NonZeroU16::MIN, Some(t.clone())),
                ids(i, 0, 0),
            )),
            Block::Heading(t) => Some(TagGroup::with_children(
                Tag::Hn(
                    NonZeroU16::new(2).unwrap_or(NonZeroU16::MIN),
                    Some(t.clone()),
                ),
                ids(i, 0, 0),
            )),
            Block::Bullet(_) => {
                let mut list = TagGroup::new(Tag::L(ListNumbering::Disc));
                while i < blocks.len() && matches!(blocks[i], Block::Bullet(_)) {
                    let lbl = TagGroup::with_children(Tag::Lbl, ids(i, 0, 0));
                    let body = TagGroup::with_children(Tag::LBody, ids(i, 0, 1));
                    list.push(TagGroup::with_children(
                        Tag::LI,
                        vec![lbl.into(), body.into()],
                    ));
                    i += 1;
                }
                i -= 1;
                Some(list)
            }
            Block::Fact { .. } => {
                let mut body = TagGroup::new(Tag::TBody);
                while i < blocks.len() && matches!(blocks[i], Block::Fact { .. }) {
                    let th = TagGroup::with_children(Tag::TH(TableHeaderScope::Row), ids(i, 0, 0));
                    let td = TagGroup::with_children(Tag::TD, ids(i, 0, 1));
                    body.push(TagGroup::with_children(Tag::TR, vec![th.into(), td.into()]));
                    i += 1;
                }
                i -= 1;
                Some(TagGroup::with_children(Tag::Table, vec![body.into()]))
            }
            Block::Table(t) => {
                let mut table = TagGroup::new(Tag::Table);
                if let Some(h) = &t.header {
                    let cells: Vec<Node> = (0..h.len())
                        .map(|c| {
                            TagGroup::with_children(Tag::TH(TableHeaderScope::Column), ids(i, 0, c))
                                .into()
                        })
                        .collect();
                    let tr = TagGroup::with_children(Tag::TR, cells);
                    table.push(TagGroup::with_children(Tag::THead, vec![tr.into()]));
                }
                let rows: Vec<Node> = t
                    .rows
                    .iter()
                    .enumerate()
                    .map(|(r, row)| {
                        let cells: Vec<Node> = (0..row.len())
                            .map(|c| TagGroup::with_children(Tag::TD, ids(i, r + 1, c)).into())
                            .collect();
                        TagGroup::with_children(Tag::TR, cells).into()
                    })
                    .collect();
                table.push(TagGroup::with_children(Tag::TBody, rows));
                Some(table)
            }
        };
        if let Some(mut g) = group {
            if let Some(code) = &lang {
                g.tag.set_lang(Some(code.clone()));
            }
            tree.push(g);
        }
        i += 1;
    }
    tree
}
