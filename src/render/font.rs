//! Fonts: a TrueType face loaded once, and the per-document subset embedded in a PDF.
//!
//! Stage: inside `render`; used by [`layout`](super::layout) for advance widths
//! and by [`pdf`](super::pdf) for glyph ids and the embedded font program.
//! Input: the bytes of a TrueType (`glyf`) font, e.g. `templates/fonts/DejaVuSans.ttf`.
//! Output: a [`Face`] (character → glyph, advances, the glyph programs) and, per
//! document, a [`Subset`]: a standalone TrueType program holding only the glyphs
//! the document uses (plus the components of composite glyphs such as «å»),
//! renumbered from 0, with the widths and the Unicode mapping the PDF needs.
//! Failure: [`RenderError::Font`] at start-up when the file is not a usable
//! TrueType font (missing or truncated tables, no Unicode `cmap`); subsetting
//! itself cannot fail on a face that loaded.
//!
//! The subset program has the tables ISO 32000-1 9.9 requires of a TrueType
//! program embedded under a CIDFontType2 (`glyf`, `head`, `hhea`, `hmtx`,
//! `loca`, `maxp`); glyph ids in the PDF are the subset's own
//! (`/CIDToGIDMap /Identity`), so no `cmap` is needed in the program. Glyphs are
//! kept without their hinting instructions (so `cvt `, `fpgm` and `prep`, which
//! only serve those, are left out): outlines and metrics are unchanged, and the
//! subset is half the size.

use crate::render::RenderError;

/// A character the face cannot draw is drawn as this one (no missing-glyph boxes).
pub const REPLACEMENT: char = '?';

/// One TrueType face, parsed once at start-up.
#[derive(Debug)]
pub struct Face {
    /// PostScript name (`name` id 6), e.g. `DejaVuSans-Bold`.
    pub postscript_name: String,
    pub units_per_em: u16,
    /// Font bounding box, ascent, descent and cap height in font units.
    pub bbox: [i16; 4],
    pub ascent: i16,
    pub descent: i16,
    pub cap_height: i16,
    /// Italic angle in degrees (`post`).
    pub italic_angle: f32,
    /// Basic Multilingual Plane character → glyph id; 0 = the face has none.
    cmap: Vec<u16>,
    advances: Vec<u16>,
    lsbs: Vec<i16>,
    /// Byte range of each glyph in `glyf`.
    glyph_ranges: Vec<(u32, u32)>,
    glyf: Vec<u8>,
    /// Copied as they are into every subset (head/hhea/maxp get their counts patched).
    head: Vec<u8>,
    hhea: Vec<u8>,
    maxp: Vec<u8>,
    /// The glyph drawn for a character the face lacks.
    replacement_gid: u16,
}

/// Big-endian readers that fail (instead of panicking) past the end.
struct Reader<'a> {
    data: &'a [u8],
    what: &'a str,
}

impl Reader<'_> {
    fn bytes(&self, at: usize, len: usize) -> Result<&[u8], RenderError> {
        at.checked_add(len)
            .and_then(|end| self.data.get(at..end))
            .ok_or_else(|| RenderError::Font(format!("{}: truncated font data", self.what)))
    }
    fn u16(&self, at: usize) -> Result<u16, RenderError> {
        let b = self.bytes(at, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn i16(&self, at: usize) -> Result<i16, RenderError> {
        Ok(self.u16(at)? as i16)
    }
    fn u32(&self, at: usize) -> Result<u32, RenderError> {
        let b = self.bytes(at, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

impl Face {
    /// Parses a TrueType font. `what` names it in errors (its path).
    pub fn parse(data: &[u8], what: &str) -> Result<Face, RenderError> {
        let r = Reader { data, what };
        let bad = |msg: &str| RenderError::Font(format!("{what}: {msg}"));
        if r.u32(0)? != 0x0001_0000 && r.bytes(0, 4)? != b"true" {
            return Err(bad("not a TrueType font with glyf outlines"));
        }
        let num_tables = usize::from(r.u16(4)?);
        let mut tables = std::collections::HashMap::new();
        for i in 0..num_tables {
            let rec = 12 + 16 * i;
            let tag: [u8; 4] = r
                .bytes(rec, 4)?
                .try_into()
                .map_err(|_| bad("bad table record"))?;
            let offset = r.u32(rec + 8)? as usize;
            let len = r.u32(rec + 12)? as usize;
            tables.insert(tag, r.bytes(offset, len)?);
        }
        let table = |tag: &[u8; 4]| -> Result<&[u8], RenderError> {
            tables.get(tag).copied().ok_or_else(|| {
                bad(&format!(
                    "the '{}' table is missing",
                    String::from_utf8_lossy(tag)
                ))
            })
        };
        let head = table(b"head")?;
        let hhea = table(b"hhea")?;
        let maxp = table(b"maxp")?;
        let hmtx = table(b"hmtx")?;
        let loca = table(b"loca")?;
        let glyf = table(b"glyf")?;
        let cmap = table(b"cmap")?;
        let (head_r, hhea_r, maxp_r) = (
            Reader { data: head, what },
            Reader { data: hhea, what },
            Reader { data: maxp, what },
        );
        if head.len() < 54 || hhea.len() < 36 || maxp.len() < 6 {
            return Err(bad("head, hhea or maxp is too short"));
        }
        let units_per_em = head_r.u16(18)?;
        let bbox = [
            head_r.i16(36)?,
            head_r.i16(38)?,
            head_r.i16(40)?,
            head_r.i16(42)?,
        ];
        let long_loca = head_r.i16(50)? == 1;
        let num_glyphs = usize::from(maxp_r.u16(4)?);
        let num_hmetrics = usize::from(hhea_r.u16(34)?).min(num_glyphs);
        if num_glyphs == 0 || num_hmetrics == 0 {
            return Err(bad("the font has no glyphs"));
        }

        // Advances and left side bearings (the last advance repeats).
        let hm = Reader { data: hmtx, what };
        let mut advances = Vec::with_capacity(num_glyphs);
        let mut lsbs = Vec::with_capacity(num_glyphs);
        for g in 0..num_glyphs {
            if g < num_hmetrics {
                advances.push(hm.u16(4 * g)?);
                lsbs.push(hm.i16(4 * g + 2)?);
            } else {
                advances.push(advances[num_hmetrics - 1]);
                lsbs.push(hm.i16(4 * num_hmetrics + 2 * (g - num_hmetrics))?);
            }
        }

        // Glyph ranges from loca.
        let lo = Reader { data: loca, what };
        let offset = |g: usize| -> Result<u32, RenderError> {
            if long_loca {
                lo.u32(4 * g)
            } else {
                Ok(u32::from(lo.u16(2 * g)?) * 2)
            }
        };
        // Each glyph is copied without its TrueType instructions (hinting):
        // they are half of DejaVu's outline bytes, PDF viewers and printers
        // rasterise without them, and without them the subset needs no
        // `cvt `/`fpgm`/`prep` either.
        let mut glyph_ranges = Vec::with_capacity(num_glyphs);
        let mut unhinted = Vec::with_capacity(glyf.len() / 2);
        for g in 0..num_glyphs {
            let (start, end) = (offset(g)?, offset(g + 1)?);
            if start > end || end as usize > glyf.len() {
                return Err(bad("loca points outside glyf"));
            }
            let from = unhinted.len() as u32;
            without_instructions(&glyf[start as usize..end as usize], &mut unhinted)
                .ok_or_else(|| bad(&format!("glyph {g} is malformed")))?;
            glyph_ranges.push((from, unhinted.len() as u32));
        }

        let mut maxp = maxp.to_vec();
        if maxp.len() >= 28 {
            // Version 1.0: maxSizeOfInstructions, now that there are none.
            maxp[26..28].copy_from_slice(&[0, 0]);
        }

        let cmap = parse_cmap(cmap, what, num_glyphs)?;
        let hhea_ascent = hhea_r.i16(4)?;
        let hhea_descent = hhea_r.i16(6)?;
        let cap_height = tables
            .get(b"OS/2")
            .and_then(|t| {
                let os2 = Reader { data: t, what };
                (os2.u16(0).ok()? >= 2).then(|| os2.i16(88).ok()).flatten()
            })
            .unwrap_or(hhea_ascent);
        let italic_angle = tables
            .get(b"post")
            .and_then(|t| Reader { data: t, what }.u32(4).ok())
            .map(|fixed| fixed as i32 as f32 / 65536.0)
            .unwrap_or(0.0);
        let postscript_name = tables
            .get(b"name")
            .and_then(|t| postscript_name(t))
            .unwrap_or_else(|| "Font".to_string());

        let replacement_gid = cmap.get(REPLACEMENT as usize).copied().unwrap_or_default();
        Ok(Face {
            postscript_name,
            units_per_em: units_per_em.max(1),
            bbox,
            ascent: hhea_ascent,
            descent: hhea_descent,
            cap_height,
            italic_angle,
            cmap,
            advances,
            lsbs,
            glyph_ranges,
            glyf: unhinted,
            head: head.to_vec(),
            hhea: hhea.to_vec(),
            maxp,
            replacement_gid,
        })
    }

    /// The glyph for `c`, or `None` when the face has none.
    pub fn glyph(&self, c: char) -> Option<u16> {
        self.cmap.get(c as usize).copied().filter(|&g| g != 0)
    }

    /// The glyph drawn for `c`: its own, else the [`REPLACEMENT`]'s.
    pub fn glyph_or_replacement(&self, c: char) -> u16 {
        self.glyph(c).unwrap_or(self.replacement_gid)
    }

    /// An empty set of this face's glyphs.
    pub fn glyph_set(&self) -> GlyphSet {
        GlyphSet {
            chars: vec![None; self.glyph_ranges.len()],
            used: 0,
        }
    }

    /// Advance width of glyph `gid` in font units.
    pub fn advance(&self, gid: u16) -> u16 {
        self.advances.get(usize::from(gid)).copied().unwrap_or(0)
    }

    fn glyph_data(&self, gid: u16) -> &[u8] {
        self.glyph_ranges
            .get(usize::from(gid))
            .and_then(|&(s, e)| self.glyf.get(s as usize..e as usize))
            .unwrap_or(&[])
    }

    /// Builds the subset program for the glyphs in `used` (original ids; each
    /// with the character it was drawn for, for the PDF's `ToUnicode`).
    /// Glyph 0 (`.notdef`) is always kept as glyph 0.
    pub fn subset(&self, used: &GlyphSet) -> Subset {
        // The closure over composite components, in a deterministic order:
        // used glyphs ascending, then components as first met.
        let mut order: Vec<u16> = vec![0];
        let mut new_id = vec![u16::MAX; self.glyph_ranges.len()];
        new_id[0] = 0;
        let add = |g: u16, order: &mut Vec<u16>, new_id: &mut Vec<u16>| {
            if let Some(slot) = new_id.get_mut(usize::from(g)) {
                if *slot == u16::MAX {
                    *slot = order.len() as u16;
                    order.push(g);
                }
            }
        };
        for (g, _) in used.iter() {
            add(g, &mut order, &mut new_id);
        }
        let mut i = 0;
        while i < order.len() {
            for component in composite_components(self.glyph_data(order[i])) {
                add(component.gid, &mut order, &mut new_id);
            }
            i += 1;
        }

        // glyf and loca (long offsets), composite references renumbered.
        let mut glyf = Vec::with_capacity(order.len() * 128);
        let mut loca = Vec::with_capacity((order.len() + 1) * 4);
        for &g in &order {
            loca.extend_from_slice(&(glyf.len() as u32).to_be_bytes());
            let start = glyf.len();
            let data = self.glyph_data(g);
            glyf.extend_from_slice(data);
            for component in composite_components(data) {
                let renumbered = new_id.get(usize::from(component.gid)).copied().unwrap_or(0);
                glyf[start + component.at..start + component.at + 2]
                    .copy_from_slice(&renumbered.to_be_bytes());
            }
            while glyf.len() % 4 != 0 {
                glyf.push(0);
            }
        }
        loca.extend_from_slice(&(glyf.len() as u32).to_be_bytes());

        let mut hmtx = Vec::with_capacity(order.len() * 4);
        for &g in &order {
            hmtx.extend_from_slice(&self.advance(g).to_be_bytes());
            let lsb = self.lsbs.get(usize::from(g)).copied().unwrap_or(0);
            hmtx.extend_from_slice(&lsb.to_be_bytes());
        }
        let count = order.len() as u16;
        let mut head = self.head.clone();
        head[8..12].copy_from_slice(&[0; 4]); // checkSumAdjustment, set below
        head[50..52].copy_from_slice(&1i16.to_be_bytes()); // long loca
        let mut hhea = self.hhea.clone();
        hhea[34..36].copy_from_slice(&count.to_be_bytes());
        let mut maxp = self.maxp.clone();
        maxp[4..6].copy_from_slice(&count.to_be_bytes());

        // In tag order, as the table directory wants them.
        let tables: [(&[u8; 4], &[u8]); 6] = [
            (b"glyf", &glyf),
            (b"head", &head),
            (b"hhea", &hhea),
            (b"hmtx", &hmtx),
            (b"loca", &loca),
            (b"maxp", &maxp),
        ];
        let program = write_sfnt(&tables);

        let unicode = order
            .iter()
            .map(|&g| if g == 0 { None } else { used.char_for(g) })
            .collect();
        let widths = order.iter().map(|&g| self.advance(g)).collect();
        Subset {
            new_id,
            program,
            widths,
            unicode,
        }
    }
}

/// The glyphs a document uses, each with the first character drawn with it.
#[derive(Debug)]
pub struct GlyphSet {
    /// Indexed by original glyph id.
    chars: Vec<Option<char>>,
    used: usize,
}

impl GlyphSet {
    pub fn insert(&mut self, gid: u16, c: char) {
        if let Some(slot @ None) = self.chars.get_mut(usize::from(gid)) {
            *slot = Some(c);
            self.used += 1;
        }
    }
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }
    fn iter(&self) -> impl Iterator<Item = (u16, char)> + '_ {
        self.chars
            .iter()
            .enumerate()
            .filter_map(|(g, c)| c.map(|c| (g as u16, c)))
    }
    fn char_for(&self, gid: u16) -> Option<char> {
        self.chars.get(usize::from(gid)).copied().flatten()
    }
}

/// One document's subset of a face.
#[derive(Debug)]
pub struct Subset {
    /// Original glyph id → subset glyph id (`u16::MAX` when not in the subset).
    new_id: Vec<u16>,
    /// The TrueType program (uncompressed).
    pub program: Vec<u8>,
    /// Advance of each subset glyph, font units.
    pub widths: Vec<u16>,
    /// The character each subset glyph stands for (none for `.notdef` and
    /// glyphs only used as components).
    pub unicode: Vec<Option<char>>,
}

impl Subset {
    /// The subset id of original glyph `gid` (0 when it is not in the subset).
    pub fn id(&self, gid: u16) -> u16 {
        match self.new_id.get(usize::from(gid)) {
            Some(&n) if n != u16::MAX => n,
            _ => 0,
        }
    }
}

/// Appends glyph `data` to `out` without its instructions: a simple glyph gets
/// `instructionLength` 0, a composite glyph loses `WE_HAVE_INSTRUCTIONS` and the
/// trailing instructions. `None` when the glyph is truncated.
fn without_instructions(data: &[u8], out: &mut Vec<u8>) -> Option<()> {
    const WE_HAVE_INSTRUCTIONS: u16 = 0x0100;
    if data.is_empty() {
        return Some(());
    }
    let r = Reader { data, what: "" };
    let contours = r.i16(0).ok()?;
    if contours >= 0 {
        let at = 10 + 2 * usize::from(contours as u16);
        let len = usize::from(r.u16(at).ok()?);
        let rest = data.get(at + 2 + len..)?;
        out.extend_from_slice(data.get(..at)?);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(rest);
    } else {
        out.extend_from_slice(data.get(..10)?);
        let components = composite_components(data);
        let mut at = 10;
        for (i, component) in components.iter().enumerate() {
            let end = components
                .get(i + 1)
                .map_or(component.end, |next| next.at - 2);
            let flags = r.u16(at).ok()? & !WE_HAVE_INSTRUCTIONS;
            out.extend_from_slice(&flags.to_be_bytes());
            out.extend_from_slice(data.get(at + 2..end)?);
            at = end;
        }
    }
    Some(())
}

/// A component reference inside a composite glyph: its glyph id and where that
/// id sits in the glyph's data.
struct Component {
    gid: u16,
    at: usize,
    /// Where this component's record ends.
    end: usize,
}

/// The components of a composite glyph (none for a simple or empty glyph).
fn composite_components(data: &[u8]) -> Vec<Component> {
    const ARG_1_AND_2_ARE_WORDS: u16 = 0x0001;
    const WE_HAVE_A_SCALE: u16 = 0x0008;
    const MORE_COMPONENTS: u16 = 0x0020;
    const WE_HAVE_AN_X_AND_Y_SCALE: u16 = 0x0040;
    const WE_HAVE_A_TWO_BY_TWO: u16 = 0x0080;
    let mut out = Vec::new();
    let r = Reader { data, what: "" };
    match r.i16(0) {
        Ok(n) if n < 0 => {}
        _ => return out,
    }
    let mut at = 10;
    while let (Ok(flags), Ok(gid)) = (r.u16(at), r.u16(at + 2)) {
        let record = at;
        at += 4;
        at += if flags & ARG_1_AND_2_ARE_WORDS != 0 {
            4
        } else {
            2
        };
        if flags & WE_HAVE_A_SCALE != 0 {
            at += 2;
        } else if flags & WE_HAVE_AN_X_AND_Y_SCALE != 0 {
            at += 4;
        } else if flags & WE_HAVE_A_TWO_BY_TWO != 0 {
            at += 8;
        }
        out.push(Component {
            gid,
            at: record + 2,
            end: at,
        });
        if flags & MORE_COMPONENTS == 0 {
            break;
        }
    }
    out
}

/// The BMP character → glyph table from a Windows Unicode (3,1) or Unicode (0,x)
/// format 4 subtable.
fn parse_cmap(cmap: &[u8], what: &str, num_glyphs: usize) -> Result<Vec<u16>, RenderError> {
    let r = Reader { data: cmap, what };
    let n = usize::from(r.u16(2)?);
    let mut chosen = None;
    for i in 0..n {
        let rec = 4 + 8 * i;
        let (platform, encoding) = (r.u16(rec)?, r.u16(rec + 2)?);
        let offset = r.u32(rec + 4)? as usize;
        let unicode = (platform == 3 && encoding == 1) || platform == 0;
        if unicode && r.u16(offset)? == 4 {
            chosen = Some(offset);
            if platform == 3 {
                break;
            }
        }
    }
    let at = chosen
        .ok_or_else(|| RenderError::Font(format!("{what}: no Unicode (format 4) cmap subtable")))?;
    let seg_count = usize::from(r.u16(at + 6)? / 2);
    let ends = at + 14;
    let starts = ends + 2 * seg_count + 2;
    let deltas = starts + 2 * seg_count;
    let range_offsets = deltas + 2 * seg_count;
    let mut map = vec![0u16; 0x10000];
    for s in 0..seg_count {
        let end = r.u16(ends + 2 * s)?;
        let start = r.u16(starts + 2 * s)?;
        let delta = r.u16(deltas + 2 * s)?;
        let ro_at = range_offsets + 2 * s;
        let ro = usize::from(r.u16(ro_at)?);
        if start > end {
            continue;
        }
        for c in start..=end {
            let gid = if ro == 0 {
                c.wrapping_add(delta)
            } else {
                let at = ro_at + ro + 2 * usize::from(c - start);
                match r.u16(at)? {
                    0 => 0,
                    g => g.wrapping_add(delta),
                }
            };
            if usize::from(gid) < num_glyphs {
                map[usize::from(c)] = gid;
            }
        }
    }
    Ok(map)
}

/// The PostScript name (name id 6) from a Windows or Macintosh record.
fn postscript_name(name: &[u8]) -> Option<String> {
    let r = Reader {
        data: name,
        what: "",
    };
    let count = usize::from(r.u16(2).ok()?);
    let strings = usize::from(r.u16(4).ok()?);
    for i in 0..count {
        let rec = 6 + 12 * i;
        let (platform, id) = (r.u16(rec).ok()?, r.u16(rec + 6).ok()?);
        if id != 6 {
            continue;
        }
        let len = usize::from(r.u16(rec + 8).ok()?);
        let off = usize::from(r.u16(rec + 10).ok()?);
        let raw = r.bytes(strings + off, len).ok()?;
        let text: String = if platform == 3 || platform == 0 {
            let units: Vec<u16> = raw
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        } else {
            raw.iter().map(|&b| b as char).collect()
        };
        // A PDF name: keep it to the printable ASCII PostScript allows.
        let clean: String = text
            .chars()
            .filter(|c| c.is_ascii_graphic() && !"[](){}<>/%#".contains(*c))
            .collect();
        if !clean.is_empty() {
            return Some(clean);
        }
    }
    None
}

/// Writes an sfnt (TrueType) file from `(tag, data)` pairs sorted by tag, with
/// table checksums and the `head` checksum adjustment.
fn write_sfnt(tables: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    fn checksum(data: &[u8]) -> u32 {
        data.chunks(4).fold(0u32, |sum, chunk| {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            sum.wrapping_add(u32::from_be_bytes(word))
        })
    }
    let n = tables.len() as u16;
    let entry_selector = 15 - n.max(1).leading_zeros() as u16;
    let search_range = (1u16 << entry_selector) * 16;
    let mut out = Vec::with_capacity(
        12 + 16 * tables.len() + tables.iter().map(|(_, d)| d.len() + 3).sum::<usize>(),
    );
    out.extend_from_slice(&0x0001_0000u32.to_be_bytes());
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&search_range.to_be_bytes());
    out.extend_from_slice(&entry_selector.to_be_bytes());
    out.extend_from_slice(&(n * 16 - search_range).to_be_bytes());
    let mut offset = 12 + 16 * tables.len();
    let mut head_at = None;
    for (tag, data) in tables {
        out.extend_from_slice(*tag);
        out.extend_from_slice(&checksum(data).to_be_bytes());
        out.extend_from_slice(&(offset as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        if *tag == b"head" {
            head_at = Some(offset);
        }
        offset += data.len().div_ceil(4) * 4;
    }
    for (_, data) in tables {
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    }
    if let Some(at) = head_at {
        let adjustment = 0xB1B0_AFBAu32.wrapping_sub(checksum(&out));
        out[at + 8..at + 12].copy_from_slice(&adjustment.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dejavu() -> Face {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/fonts/DejaVuSans.ttf"
        );
        Face::parse(&std::fs::read(path).unwrap(), path).unwrap()
    }

    #[test]
    fn maps_norwegian_swedish_and_sami_letters() {
        let face = dejavu();
        assert_eq!(face.postscript_name, "DejaVuSans");
        for c in "AZaz09æøåÆØÅäöÄÖáčđŋšŧžÁČĐŊŠŦŽ«»–€§".chars() {
            assert!(face.glyph(c).is_some(), "no glyph for {c}");
        }
        assert!(face.glyph('\u{E000}').is_none());
        assert_eq!(
            face.glyph_or_replacement('\u{E000}'),
            face.glyph('?').unwrap()
        );
    }

    #[test]
    fn a_subset_keeps_the_used_glyphs_and_their_components() {
        let face = dejavu();
        let mut used = face.glyph_set();
        for c in "Aå".chars() {
            used.insert(face.glyph(c).unwrap(), c);
        }
        let s = face.subset(&used);
        // .notdef, A, å, and å's components (a, ring) at least.
        assert!(s.widths.len() >= 4, "{}", s.widths.len());
        assert_eq!(s.id(face.glyph('A').unwrap()), 1);
        assert_eq!(s.unicode[1], Some('A'));
        assert_eq!(s.widths[1], face.advance(face.glyph('A').unwrap()));
        assert_eq!(s.id(face.glyph('z').unwrap()), 0, "unused glyph left out");
        // The program parses back with this module's own reader, and its
        // composite «å» points at glyphs inside the subset.
        let back = Reader {
            data: &s.program,
            what: "",
        };
        assert_eq!(back.u32(0).unwrap(), 0x0001_0000);
        assert!(s.program.len() < 20_000, "{}", s.program.len());
        let ring = s.id(face.glyph('å').unwrap());
        assert_eq!(ring, 2);
    }
}
