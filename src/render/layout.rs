//! Layout: markup blocks → positioned text runs on A4 pages.
//!
//! Stage: inside `render`, after the markup parser and before PDF assembly.
//! Input: [`Block`]s and the font [`Metrics`]. Output: [`PageLayout`]s whose runs
//! carry absolute positions in PDF points (origin bottom left).
//! Failure: none; text that does not fit flows onto new pages, and a word wider
//! than the column is broken between characters.
//!
//! Lines are wrapped by the fonts' real advance widths (the `hmtx` table), not by
//! character counts, so the measured width is what the PDF viewer draws: the PDF
//! writer maps each character to one glyph through the font's cmap, without
//! shaping (a character the font lacks is drawn, and measured, as `?`).

use crate::render::markup::{Block, Table};

/// A4 in points.
pub const PAGE_W: f32 = 595.2756;
pub const PAGE_H: f32 = 841.8898;
const LEFT: f32 = 70.87; // 25 mm
const RIGHT: f32 = 56.69; // 20 mm
const TOP: f32 = 56.69; // 20 mm
const BOTTOM: f32 = 62.36; // 22 mm; the footer sits below
const TEXT_W: f32 = PAGE_W - LEFT - RIGHT;

const BODY: f32 = 10.0;
const BODY_LEAD: f32 = 13.5;
const PARA_GAP: f32 = 6.0;
const FACT_LABEL_W: f32 = 95.0;
const BULLET_INDENT: f32 = 14.0;

/// Which of the two loaded faces a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FontKind {
    Regular,
    Bold,
}

/// Advance widths of one face, in font units: a table for every BMP code point
/// and a map for the characters beyond it that the face has.
#[derive(Debug)]
pub struct FaceMetrics {
    advances: Vec<u16>,
    astral: std::collections::HashMap<char, u16>,
    missing_advance: u16,
    units_per_em: f32,
}

impl FaceMetrics {
    /// `advance(c)` gives the advance width of `c` in font units, or `None` when
    /// the face has no glyph for it.
    /// `astral` lists the face's characters beyond the BMP.
    pub fn build(
        units_per_em: u16,
        advance: impl Fn(char) -> Option<u16>,
        astral: impl IntoIterator<Item = char>,
    ) -> FaceMetrics {
        let missing_advance = advance('?').unwrap_or(units_per_em / 2);
        let advances = (0u32..=0xFFFF)
            .map(|cp| {
                char::from_u32(cp)
                    .and_then(&advance)
                    .unwrap_or(missing_advance)
            })
            .collect();
        let astral = astral
            .into_iter()
            .filter(|c| u32::from(*c) > 0xFFFF)
            .filter_map(|c| advance(c).map(|a| (c, a)))
            .collect();
        FaceMetrics {
            advances,
            astral,
            missing_advance,
            units_per_em: f32::from(units_per_em.max(1)),
        }
    }

    /// Advance of `c` in font units (the `?` it is drawn as when the face lacks it).
    pub fn advance_units(&self, c: char) -> u16 {
        match self.advances.get(c as usize) {
            Some(a) => *a,
            None => self.astral.get(&c).copied().unwrap_or(self.missing_advance),
        }
    }

    /// Width of `text` at `size` points.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        let units: u32 = text.chars().map(|c| u32::from(self.advance_units(c))).sum();
        units as f32 * size / self.units_per_em
    }
}

/// Both faces.
#[derive(Debug)]
pub struct Metrics {
    pub regular: FaceMetrics,
    pub bold: FaceMetrics,
}

impl Metrics {
    pub fn face(&self, kind: FontKind) -> &FaceMetrics {
        match kind {
            FontKind::Regular => &self.regular,
            FontKind::Bold => &self.bold,
        }
    }
}

/// One piece of text at an absolute position (its baseline start).
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub x: f32,
    pub y: f32,
    pub font: FontKind,
    pub size: f32,
    pub text: String,
    /// Grey rather than black (letterhead details, footer, small print).
    pub grey: bool,
    /// Where the run belongs in the document's logical structure.
    pub leaf: Leaf,
}

/// The place of a run in the logical structure (the tagged PDF's structure tree,
/// built from the markup blocks by `pdf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leaf {
    /// Not part of the content: page numbers, the running footer, and the
    /// copies of the marking and of table headers repeated on later pages.
    Artifact,
    /// Part of markup block `block`. Tables: `row` 0 is the header, data rows
    /// count from 1, `col` is the column. Bullets: `col` 0 is the bullet sign,
    /// 1 the text. Facts: `col` 0 the label, 1 the value. Otherwise 0, 0.
    Block {
        block: usize,
        row: usize,
        col: usize,
    },
}

/// Where the letterhead logo goes (bottom left corner and size, in points).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// Height of the letterhead logo, in points.
pub const LOGO_H: f32 = 36.0;

/// A horizontal hairline from `x1` to `x2` at height `y`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub x1: f32,
    pub x2: f32,
    pub y: f32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageLayout {
    pub runs: Vec<Run>,
    pub rules: Vec<Rule>,
    /// The logo, on the first page only.
    pub logo: Option<ImageBox>,
}

/// Lays the blocks out; adds the marking header and the «Side N av M» footer to
/// every page.
pub fn layout(blocks: &[Block], metrics: &Metrics, logo: Option<f32>) -> Vec<PageLayout> {
    let mut l = Layouter {
        metrics,
        pages: vec![PageLayout::default()],
        y: PAGE_H - TOP,
        leaf: Leaf::Artifact,
    };
    // `logo` is the logo's width / height: it goes top right, beside the
    // school and municipality lines (which then wrap short of it), so the
    // letter keeps its length.
    let mut head_w = TEXT_W;
    if let Some(aspect) = logo {
        let w = (LOGO_H * aspect).clamp(1.0, TEXT_W / 3.0);
        let h = w / aspect.max(0.01);
        l.pages[0].logo = Some(ImageBox {
            x: PAGE_W - RIGHT - w,
            y: PAGE_H - TOP - h,
            w,
            h,
        });
        head_w = TEXT_W - w - 12.0;
    }
    let mut marking: Option<(usize, &str)> = None;
    let mut running: Option<&str> = None;
    let mut after_fact = false;
    for (index, block) in blocks.iter().enumerate() {
        l.leaf = Leaf::Block {
            block: index,
            row: 0,
            col: 0,
        };
        let is_fact = matches!(block, Block::Fact { .. });
        if after_fact && !is_fact {
            l.gap(PARA_GAP);
        }
        after_fact = is_fact;
        match block {
            Block::Marking(t) => marking = Some((index, t)),
            Block::Lang(_) => {}
            Block::Running(t) => running = Some(t),
            Block::School(t) => l.text_lines(t, FontKind::Bold, 16.0, 20.0, LEFT, head_w, false),
            Block::Municipality(t) => {
                l.text_lines(t, FontKind::Regular, 10.0, 14.0, LEFT, head_w, true);
                l.y -= 4.0;
                let y = l.y;
                l.page().rules.push(Rule {
                    x1: LEFT,
                    x2: PAGE_W - RIGHT,
                    y,
                });
                l.y -= 14.0;
            }
            Block::Right(t) => {
                for line in wrap(t, metrics.face(FontKind::Regular), 10.0, TEXT_W) {
                    let w = metrics.regular.width(&line, 10.0);
                    l.line(
                        13.5,
                        PAGE_W - RIGHT - w,
                        FontKind::Regular,
                        10.0,
                        line,
                        false,
                    );
                }
            }
            Block::Small(t) => {
                l.text_lines(t, FontKind::Regular, 8.5, 11.5, LEFT, TEXT_W, true);
                l.gap(PARA_GAP);
            }
            Block::Space => l.gap(BODY_LEAD),
            Block::Title(t) => {
                l.gap(6.0);
                l.keep_space(18.0 + 2.0 * BODY_LEAD);
                l.text_lines(t, FontKind::Bold, 13.5, 18.0, LEFT, TEXT_W, false);
                l.gap(6.0);
            }
            Block::Heading(t) => {
                l.gap(8.0);
                l.keep_space(15.0 + 2.0 * BODY_LEAD);
                l.text_lines(t, FontKind::Bold, 11.0, 15.0, LEFT, TEXT_W, false);
                l.gap(2.0);
            }
            Block::Bullet(t) => {
                let lines = wrap(t, &metrics.regular, BODY, TEXT_W - BULLET_INDENT);
                for (i, line) in lines.into_iter().enumerate() {
                    if i == 0 {
                        l.new_page_if_needed(BODY_LEAD);
                        let y = l.baseline(BODY_LEAD);
                        let leaf = l.leaf;
                        l.page().runs.push(Run {
                            x: LEFT + 3.0,
                            y,
                            font: FontKind::Regular,
                            size: BODY,
                            text: "•".into(),
                            grey: false,
                            leaf,
                        });
                        l.leaf = cell_leaf(leaf, 0, 1);
                    }
                    l.line(
                        BODY_LEAD,
                        LEFT + BULLET_INDENT,
                        FontKind::Regular,
                        BODY,
                        line,
                        false,
                    );
                }
                l.gap(2.0);
            }
            Block::Fact { label, value } => {
                let labels = wrap(label, &metrics.bold, 10.0, FACT_LABEL_W - 6.0);
                let values = wrap(value, &metrics.regular, 10.0, TEXT_W - FACT_LABEL_W);
                let rows = labels.len().max(values.len()).max(1);
                l.keep_space(13.5 * rows.min(3) as f32);
                for i in 0..rows {
                    l.new_page_if_needed(13.5);
                    let y = l.baseline(13.5);
                    // An empty label or value is still a (blank) cell.
                    let label = labels.get(i).cloned().or((i == 0).then(String::new));
                    if let Some(t) = label {
                        let leaf = cell_leaf(l.leaf, 0, 0);
                        l.page().runs.push(Run {
                            x: LEFT,
                            y,
                            font: FontKind::Bold,
                            size: 10.0,
                            text: t,
                            grey: false,
                            leaf,
                        });
                    }
                    let value = values.get(i).cloned().or((i == 0).then(String::new));
                    if let Some(t) = value {
                        let leaf = cell_leaf(l.leaf, 0, 1);
                        l.page().runs.push(Run {
                            x: LEFT + FACT_LABEL_W,
                            y,
                            font: FontKind::Regular,
                            size: 10.0,
                            text: t,
                            grey: false,
                            leaf,
                        });
                    }
                    l.y -= 13.5;
                }
                l.gap(1.0);
            }
            Block::Lines(lines) => {
                // Keep a short block (an address, a signature) on one page.
                if lines.len() <= 10 {
                    l.keep_space(BODY_LEAD * lines.len() as f32);
                }
                for t in lines {
                    if t.is_empty() {
                        l.gap(BODY_LEAD);
                    } else {
                        l.text_lines(t, FontKind::Regular, BODY, BODY_LEAD, LEFT, TEXT_W, false);
                    }
                }
                l.gap(PARA_GAP);
            }
            Block::Paragraph(t) => {
                l.text_lines(t, FontKind::Regular, BODY, BODY_LEAD, LEFT, TEXT_W, false);
                l.gap(PARA_GAP);
            }
            Block::Table(t) => {
                l.table(t);
                l.gap(PARA_GAP);
            }
        }
    }

    let mut pages = l.pages;
    let total = pages.len();
    for (i, page) in pages.iter_mut().enumerate() {
        if let Some((index, m)) = marking {
            // Read once, on the first page, before everything else on it.
            let leaf = if i == 0 {
                Leaf::Block {
                    block: index,
                    row: 0,
                    col: 0,
                }
            } else {
                Leaf::Artifact
            };
            let mut lines = Vec::new();
            for (j, line) in wrap(m, &metrics.bold, 8.5, TEXT_W).into_iter().enumerate() {
                let w = metrics.bold.width(&line, 8.5);
                lines.push(Run {
                    x: PAGE_W - RIGHT - w,
                    y: PAGE_H - 34.0 - 11.0 * j as f32,
                    font: FontKind::Bold,
                    size: 8.5,
                    text: line,
                    grey: false,
                    leaf,
                });
            }
            page.runs.splice(0..0, lines);
        }
        if let (Some(t), true) = (running, i > 0) {
            // In the footer, left of the page number; cut to one line.
            let line = wrap(t, &metrics.regular, 8.5, TEXT_W - 80.0)
                .into_iter()
                .next()
                .unwrap_or_default();
            page.runs.push(Run {
                x: LEFT,
                y: 30.0,
                font: FontKind::Regular,
                size: 8.5,
                text: line,
                grey: true,
                leaf: Leaf::Artifact,
            });
        }
        let footer = format!("Side {} av {}", i + 1, total);
        let w = metrics.regular.width(&footer, 8.5);
        page.runs.push(Run {
            x: PAGE_W - RIGHT - w,
            y: 30.0,
            font: FontKind::Regular,
            size: 8.5,
            text: footer,
            grey: true,
            leaf: Leaf::Artifact,
        });
    }
    pages
}

struct Layouter<'a> {
    metrics: &'a Metrics,
    pages: Vec<PageLayout>,
    /// Top of the next line box, from the bottom of the page.
    y: f32,
    /// The structure leaf of the runs being laid out.
    leaf: Leaf,
}

/// `leaf` with its row and column replaced (an artifact stays one).
fn cell_leaf(leaf: Leaf, row: usize, col: usize) -> Leaf {
    match leaf {
        Leaf::Block { block, .. } => Leaf::Block { block, row, col },
        other => other,
    }
}

impl Layouter<'_> {
    fn page(&mut self) -> &mut PageLayout {
        if self.pages.is_empty() {
            self.pages.push(PageLayout::default());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn at_top(&self) -> bool {
        self.y >= PAGE_H - TOP - 0.01
    }

    /// Vertical space, dropped at the top of a page.
    fn gap(&mut self, h: f32) {
        if !self.at_top() {
            self.y -= h;
        }
    }

    fn new_page(&mut self) {
        self.pages.push(PageLayout::default());
        self.y = PAGE_H - TOP;
    }

    fn new_page_if_needed(&mut self, h: f32) {
        if self.y - h < BOTTOM && !self.at_top() {
            self.new_page();
        }
    }

    /// Starts a new page unless `h` points still fit (keeps headings with text).
    fn keep_space(&mut self, h: f32) {
        self.new_page_if_needed(h);
    }

    fn baseline(&self, lead: f32) -> f32 {
        self.y - lead * 0.78
    }

    fn line(&mut self, lead: f32, x: f32, font: FontKind, size: f32, text: String, grey: bool) {
        self.new_page_if_needed(lead);
        let y = self.baseline(lead);
        let leaf = self.leaf;
        self.page().runs.push(Run {
            x,
            y,
            font,
            size,
            text,
            grey,
            leaf,
        });
        self.y -= lead;
    }

    #[allow(clippy::too_many_arguments)]
    fn text_lines(
        &mut self,
        text: &str,
        font: FontKind,
        size: f32,
        lead: f32,
        x: f32,
        width: f32,
        grey: bool,
    ) {
        let face = self.metrics.face(font);
        for line in wrap(text, face, size, width) {
            self.line(lead, x, font, size, line, grey);
        }
    }
}

const TABLE_SIZE: f32 = 9.0;
const TABLE_LEAD: f32 = 12.0;
const CELL_PAD: f32 = 4.0;

/// One table row, wrapped into its columns.
struct TableRow {
    cells: Vec<Vec<String>>,
    lines: usize,
}

impl Layouter<'_> {
    /// Lays out a table: columns share the text width by weight, cells wrap,
    /// a row is kept on one page (unless it is taller than a page), and the
    /// header is repeated at the top of every page the table continues on.
    fn table(&mut self, t: &Table) {
        let total: u32 = t.columns.iter().map(|c| c.weight).sum::<u32>().max(1);
        let mut xs = Vec::with_capacity(t.columns.len());
        let mut x = LEFT;
        for c in &t.columns {
            let w = TEXT_W * c.weight as f32 / total as f32;
            xs.push((x, w, c.right));
            x += w;
        }
        let wrap_row = |cells: &[String], font: FontKind| -> TableRow {
            let face = self.metrics.face(font);
            let cells: Vec<Vec<String>> = cells
                .iter()
                .zip(&xs)
                .map(|(text, &(_, w, _))| wrap(text, face, TABLE_SIZE, w - 2.0 * CELL_PAD))
                .collect();
            let lines = cells.iter().map(Vec::len).max().unwrap_or(0).max(1);
            TableRow { cells, lines }
        };
        let header = t.header.as_ref().map(|h| wrap_row(h, FontKind::Bold));
        let rows: Vec<TableRow> = t
            .rows
            .iter()
            .map(|r| wrap_row(r, FontKind::Regular))
            .collect();
        let header_h = header
            .as_ref()
            .map_or(0.0, |h| h.lines as f32 * TABLE_LEAD + 3.0);
        let first_h = rows.first().map_or(0.0, |r| r.lines as f32 * TABLE_LEAD);
        self.keep_space(header_h + first_h);
        let table_leaf = self.leaf;
        if let Some(h) = &header {
            self.table_header(h, &xs, table_leaf);
        }
        let content_h = PAGE_H - TOP - BOTTOM;
        // Repeated headers are artifacts: the structure has the header once.
        for (r, row) in rows.iter().enumerate() {
            let h = row.lines as f32 * TABLE_LEAD;
            if self.y - h < BOTTOM && h <= content_h - header_h {
                self.new_page();
                if let Some(hd) = &header {
                    self.table_header(hd, &xs, Leaf::Artifact);
                }
            }
            for i in 0..row.lines {
                if self.y - TABLE_LEAD < BOTTOM {
                    // Only a row taller than a page gets here.
                    self.new_page();
                    if let Some(hd) = &header {
                        self.table_header(hd, &xs, Leaf::Artifact);
                    }
                }
                let leaf = cell_leaf(table_leaf, r + 1, 0);
                self.table_line(row, i, &xs, FontKind::Regular, leaf);
            }
        }
        self.leaf = table_leaf;
        let y = self.y - 2.0;
        self.page().rules.push(Rule {
            x1: LEFT,
            x2: LEFT + TEXT_W,
            y,
        });
        self.y -= 4.0;
    }

    fn table_header(&mut self, h: &TableRow, xs: &[(f32, f32, bool)], leaf: Leaf) {
        for i in 0..h.lines {
            self.table_line(h, i, xs, FontKind::Bold, leaf);
        }
        let y = self.y - 1.5;
        self.page().rules.push(Rule {
            x1: LEFT,
            x2: LEFT + TEXT_W,
            y,
        });
        self.y -= 3.0;
    }

    /// Line `i` of every cell of a row, then one line down. `leaf` is the row's
    /// (its column is set per cell); an empty cell gets an empty run on the
    /// row's first line, so the structure still has the cell.
    fn table_line(
        &mut self,
        row: &TableRow,
        i: usize,
        xs: &[(f32, f32, bool)],
        font: FontKind,
        leaf: Leaf,
    ) {
        let y = self.baseline(TABLE_LEAD);
        let face = self.metrics.face(font);
        let mut runs = Vec::new();
        let empty = String::new();
        for (col, (cell, &(x, w, right))) in row.cells.iter().zip(xs).enumerate() {
            let line = cell
                .get(i)
                .or((i == 0 && cell.is_empty()).then_some(&empty));
            if let Some(text) = line {
                let leaf = match leaf {
                    Leaf::Block { block, row, .. } => Leaf::Block { block, row, col },
                    other => other,
                };
                let x = if right {
                    x + w - CELL_PAD - face.width(text, TABLE_SIZE)
                } else {
                    x + CELL_PAD
                };
                runs.push(Run {
                    x,
                    y,
                    font,
                    size: TABLE_SIZE,
                    text: text.clone(),
                    grey: false,
                    leaf,
                });
            }
        }
        self.page().runs.extend(runs);
        self.y -= TABLE_LEAD;
    }
}

/// Greedy line breaking at spaces by measured width; a word wider than `width`
/// is broken between characters.
pub fn wrap(text: &str, face: &FaceMetrics, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut current_w = 0.0f32;
    let space_w = face.width(" ", size);
    for word in text.split_whitespace() {
        let w = face.width(word, size);
        if !current.is_empty() && current_w + space_w + w <= width {
            current.push(' ');
            current.push_str(word);
            current_w += space_w + w;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        if w <= width {
            current.push_str(word);
            current_w = w;
        } else {
            // Break an overlong word (a URL, a long compound) between characters.
            current_w = 0.0;
            for c in word.chars() {
                let mut buf = [0u8; 4];
                let cw = face.width(c.encode_utf8(&mut buf), size);
                if !current.is_empty() && current_w + cw > width {
                    lines.push(std::mem::take(&mut current));
                    current_w = 0.0;
                }
                current.push(c);
                current_w += cw;
            }
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mono() -> FaceMetrics {
        // Every glyph 500 units wide, "i" narrow: 1 em = 1000 units.
        FaceMetrics::build(1000, |c| Some(if c == 'i' { 200 } else { 500 }), [])
    }

    #[test]
    fn wraps_by_measured_width_not_character_count() {
        let face = mono();
        // At 10 pt a normal glyph is 5 pt wide, "i" 2 pt.
        assert_eq!(face.width("ab", 10.0), 10.0);
        assert_eq!(face.width("ii", 10.0), 4.0);
        // Width 20 pt: "iiiii iiii" (10 + 5 + 8 = 23) does not fit, "iiiii" does.
        assert_eq!(wrap("iiiii iiii", &face, 10.0, 20.0), vec!["iiiii", "iiii"]);
        // The same number of characters of wide glyphs breaks sooner.
        assert_eq!(wrap("aa aa aa", &face, 10.0, 27.0), vec!["aa aa", "aa"]);
        // An overlong word is broken between characters.
        assert_eq!(wrap("aaaaaaa", &face, 10.0, 15.0), vec!["aaa", "aaa", "a"]);
    }
}
