//! PDF assembly: laid-out pages → the bytes of one PDF/A-2b file.
//!
//! Stage: the last step of `render`.
//! Input: [`PageLayout`]s, the two [`Fonts`], the sRGB [`IccProfile`] and the
//! document's [`DocInfo`].
//! Output: the bytes of one PDF/A-2b file: each face embedded as a per-document
//! subset (a Type 0 font over a CIDFontType2 with `/W` widths from the font's
//! `hmtx` and a `ToUnicode` map, so the text can be searched and copied; the
//! program itself unfiltered, see [`assemble`]), Flate content streams with
//! two-byte glyph codes, an uncompressed XMP packet with the PDF/A identification, an
//! Info dictionary equal to it, and an sRGB output intent with the ICC profile.
//! Failure: [`RenderError::Pdf`] when a stream cannot be compressed (never in
//! practice); a character no face has is drawn as `?` (no missing-glyph boxes).
//!
//! This is the ONE place a document is assembled, and it writes the file itself:
//! printpdf 0.12 (the first renderer) wrote neither the PDF/A identification nor
//! an output intent, and its serialisation was ~60 % of a letter's render time
//! (see README «Rendering benchmark and the PDF/A decision»).
//!
//! What PDF/A-2b (ISO 19005-2) asks and where it is done:
//! - header `%PDF-1.7` and a comment of four bytes ≥ 128 (6.1.2);
//! - a trailer `/ID`, no encryption, classic cross-reference table (6.1.3);
//! - stream `/Length` exact, `stream`/`endstream` on their own lines (6.1.7);
//! - every font embedded, widths consistent with the program (6.2.11.4/5);
//!   Identity-H with `CIDToGIDMap /Identity` (6.2.11.3);
//! - `DeviceGray` only (allowed with an output intent, 6.2.4.3), one
//!   `GTS_PDFA1` output intent with an embedded RGB profile (6.2.3);
//! - XMP metadata, uncompressed, `pdfaid:part 2`/`conformance B`, equal to the
//!   Info dictionary (6.6); no JavaScript, actions or transparency.
//!
//! The output is deterministic: subset tags are derived from the glyphs, dates come
//! from the event, and the trailer `/ID` from the event id, so a re-render of the
//! same event has the same SHA-256.

use std::io::Write;

use chrono::{DateTime, FixedOffset};
use sha2::{Digest, Sha256};

use crate::render::font::{Face, Subset};
use crate::render::layout::{FontKind, PageLayout, PAGE_H, PAGE_W};
use crate::render::RenderError;

/// The two faces, parsed once at start-up.
#[derive(Debug)]
pub struct Fonts {
    pub regular: Face,
    pub bold: Face,
}

impl Fonts {
    fn face(&self, kind: FontKind) -> &Face {
        match kind {
            FontKind::Regular => &self.regular,
            FontKind::Bold => &self.bold,
        }
    }
}

/// zlib-compresses `data` at `level`.
///
/// The compressor is kept per thread and level and reset between streams: a
/// fresh one allocates and clears some 300 KB of tables, which for a one-page
/// letter's five streams cost more than the compression itself (measured with
/// `perf`: a quarter of the render time in malloc/free and memset).
fn deflate(data: &[u8], level: u32) -> Result<Vec<u8>, RenderError> {
    thread_local! {
        static COMPRESSORS: std::cell::RefCell<Vec<(u32, flate2::Compress)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    let fail = |e: &dyn std::fmt::Display| RenderError::Pdf(format!("compressing a stream: {e}"));
    COMPRESSORS.with(|cell| {
        let mut compressors = cell.borrow_mut();
        let at = match compressors.iter().position(|(l, _)| *l == level) {
            Some(at) => at,
            None => {
                let c = flate2::Compress::new(flate2::Compression::new(level), true);
                compressors.push((level, c));
                compressors.len() - 1
            }
        };
        let c = &mut compressors[at].1;
        c.reset();
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        loop {
            let consumed = usize::try_from(c.total_in()).map_err(|e| fail(&e))?;
            let status = c
                .compress_vec(&data[consumed..], &mut out, flate2::FlushCompress::Finish)
                .map_err(|e| fail(&e))?;
            match status {
                flate2::Status::StreamEnd => return Ok(out),
                flate2::Status::Ok | flate2::Status::BufError => {
                    out.reserve(out.capacity().max(64));
                }
            }
        }
    })
}

/// zlib level for content streams and ToUnicode maps. Measured on the one-page
/// letter (`dokflyt bench render`, zlib-rs): level 4 → 0.41 ms at 18.7 KB, level
/// 1 → 0.29 ms at 20.6 KB. Speed wins: the archive stores a few KB more per
/// letter, the pipeline renders a third faster.
const COMPRESSION_LEVEL: u32 = 1;

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

/// Info /Creator and xmp:CreatorTool.
const CREATOR: &str = "dokflyt";
/// Info /Producer and pdf:Producer.
const PRODUCER: &str = "dokflyt (own PDF/A-2b writer)";
/// The output intent's condition (ISO 19005-2 6.2.3).
const OUTPUT_CONDITION: &str = "sRGB IEC61966-2.1";
/// Fill and stroke grey of rules and small print (`g`/`G`: 0 is black).
const GREY: &str = "0.35";

/// A face as used by one document: its subset and its resource name.
struct UsedFace<'a> {
    face: &'a Face,
    kind: FontKind,
    subset: Subset,
    /// The first object number of its five objects.
    first_object: usize,
}

impl UsedFace<'_> {
    fn resource(&self) -> &'static str {
        match self.kind {
            FontKind::Regular => "F1",
            FontKind::Bold => "F2",
        }
    }
}

// Object numbers: fixed ones first, then five per used face, then two per page.
const CATALOG: usize = 1;
const PAGES: usize = 2;
const INFO: usize = 3;
const METADATA: usize = 4;
const ICC: usize = 5;
const FIRST_FONT_OBJECT: usize = 6;

/// Builds and serialises the document.
pub fn assemble(
    pages: &[PageLayout],
    fonts: &Fonts,
    icc: &IccProfile,
    info: &DocInfo,
) -> Result<Vec<u8>, RenderError> {
    // The glyphs each face draws, then each used face's subset.
    let mut sets = [fonts.regular.glyph_set(), fonts.bold.glyph_set()];
    for run in pages.iter().flat_map(|p| &p.runs) {
        let (face, set) = match run.font {
            FontKind::Regular => (&fonts.regular, &mut sets[0]),
            FontKind::Bold => (&fonts.bold, &mut sets[1]),
        };
        for c in run.text.chars() {
            set.insert(face.glyph_or_replacement(c), c);
        }
    }
    let mut used: Vec<UsedFace> = Vec::with_capacity(2);
    for (kind, set) in [FontKind::Regular, FontKind::Bold].into_iter().zip(&sets) {
        if set.is_empty() {
            continue;
        }
        let face = fonts.face(kind);
        used.push(UsedFace {
            face,
            kind,
            subset: face.subset(set),
            first_object: FIRST_FONT_OBJECT + 5 * used.len(),
        });
    }
    let first_page_object = FIRST_FONT_OBJECT + 5 * used.len();
    let object_count = first_page_object + 2 * pages.len();

    let mut w = Writer::new(object_count, 32 * 1024);
    w.out.extend_from_slice(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n");

    // Catalog and page tree.
    w.begin(CATALOG);
    let _ = write!(
        w.out,
        "<< /Type /Catalog /Pages {PAGES} 0 R /Metadata {METADATA} 0 R /Lang (nb-NO) \
         /OutputIntents [<< /Type /OutputIntent /S /GTS_PDFA1 \
         /OutputConditionIdentifier ({OUTPUT_CONDITION}) /Info ({OUTPUT_CONDITION}) \
         /RegistryName (http://www.color.org) /DestOutputProfile {ICC} 0 R >>] >>"
    );
    w.end();
    w.begin(PAGES);
    w.out.extend_from_slice(b"<< /Type /Pages /Kids [");
    for i in 0..pages.len() {
        let _ = write!(w.out, "{} 0 R ", first_page_object + 2 * i);
    }
    let _ = write!(w.out, "] /Count {} >>", pages.len());
    w.end();

    // Info (the same values as the XMP) and the XMP packet.
    let date = info_date(info.created);
    w.begin(INFO);
    w.out.extend_from_slice(b"<< /Title ");
    text_string(&mut w.out, info.title);
    w.out.extend_from_slice(b" /Author ");
    text_string(&mut w.out, info.author);
    w.out.extend_from_slice(b" /Subject ");
    text_string(&mut w.out, info.subject);
    w.out.extend_from_slice(b" /Creator ");
    text_string(&mut w.out, CREATOR);
    w.out.extend_from_slice(b" /Producer ");
    text_string(&mut w.out, PRODUCER);
    let _ = write!(w.out, " /CreationDate ({date}) /ModDate ({date}) >>");
    w.end();
    w.stream(
        METADATA,
        "/Type /Metadata /Subtype /XML",
        xmp_packet(info).as_bytes(),
    );
    w.stream(ICC, "/N 3 /Filter /FlateDecode", &icc.compressed);

    for f in &used {
        write_font(&mut w, f)?;
    }

    // Pages and their content.
    let resources = {
        let mut r = String::from("<< /Font <<");
        for f in &used {
            r.push_str(&format!(" /{} {} 0 R", f.resource(), f.first_object));
        }
        r.push_str(" >> >>");
        r
    };
    let mut content = Vec::with_capacity(8 * 1024);
    for (i, page) in pages.iter().enumerate() {
        let page_object = first_page_object + 2 * i;
        w.begin(page_object);
        let _ = write!(
            w.out,
            "<< /Type /Page /Parent {PAGES} 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] \
             /Resources {resources} /Contents {} 0 R >>",
            page_object + 1
        );
        w.end();
        content.clear();
        page_content(&mut content, page, &used);
        let compressed = deflate(&content, COMPRESSION_LEVEL)?;
        w.stream(page_object + 1, "/Filter /FlateDecode", &compressed);
    }

    // The trailer /ID from the event id (printpdf's was random).
    let id = hex::encode(&Sha256::digest(info.identifier.as_bytes())[..16]);
    Ok(w.finish(&format!(
        "/Root {CATALOG} 0 R /Info {INFO} 0 R /ID [<{id}> <{id}>]"
    )))
}

/// The five objects of one face: Type 0 font, CIDFont, descriptor, program, ToUnicode.
fn write_font(w: &mut Writer, f: &UsedFace) -> Result<(), RenderError> {
    let face = f.face;
    let n = f.first_object;
    let scale = |v: i32| (v as f64 * 1000.0 / f64::from(face.units_per_em)).round() as i64;
    // A subset is named with a tag of six capital letters (ISO 32000-1 9.6.4),
    // here derived from what the subset holds (its characters and widths, not
    // the whole program: a tenth of the hashing) so a re-render names it the same.
    let mut hasher = Sha256::new();
    for (c, w) in f.subset.unicode.iter().zip(&f.subset.widths) {
        hasher.update(u32::from(c.unwrap_or('\0')).to_be_bytes());
        hasher.update(w.to_be_bytes());
    }
    let digest = hasher.finalize();
    let tag: String = digest[..6]
        .iter()
        .map(|b| (b'A' + b % 26) as char)
        .collect();
    let name = format!("{tag}+{}", face.postscript_name);

    w.begin(n);
    let _ = write!(
        w.out,
        "<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H \
         /DescendantFonts [{} 0 R] /ToUnicode {} 0 R >>",
        n + 1,
        n + 4
    );
    w.end();

    w.begin(n + 1);
    let _ = write!(
        w.out,
        "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} \
         /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
         /FontDescriptor {} 0 R /CIDToGIDMap /Identity /W [0 [",
        n + 2
    );
    for &adv in &f.subset.widths {
        let _ = write!(w.out, "{} ", scale(i32::from(adv)));
    }
    w.out.extend_from_slice(b"]] >>");
    w.end();

    let [x0, y0, x1, y1] = face.bbox.map(|v| scale(i32::from(v)));
    let stem_v = if face.postscript_name.contains("Bold") {
        140
    } else {
        80
    };
    w.begin(n + 2);
    let _ = write!(
        w.out,
        "<< /Type /FontDescriptor /FontName /{name} /Flags 4 /FontBBox [{x0} {y0} {x1} {y1}] \
         /ItalicAngle {} /Ascent {} /Descent {} /CapHeight {} /StemV {stem_v} /FontFile2 {} 0 R >>",
        face.italic_angle,
        scale(i32::from(face.ascent)),
        scale(i32::from(face.descent)),
        scale(i32::from(face.cap_height)),
        n + 3
    );
    w.end();

    // The font program goes in unfiltered: without hinting, DejaVu's outlines
    // hardly compress (level 1 saved 1.5 KB of a 21 KB letter) and compressing
    // them was a third of the letter's render time.
    w.stream(
        n + 3,
        &format!("/Length1 {}", f.subset.program.len()),
        &f.subset.program,
    );

    let to_unicode = deflate(&to_unicode_cmap(&f.subset), COMPRESSION_LEVEL)?;
    w.stream(n + 4, "/Filter /FlateDecode", &to_unicode);
    Ok(())
}

/// The `ToUnicode` CMap: subset glyph id → the character it was drawn for.
fn to_unicode_cmap(subset: &Subset) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 + subset.unicode.len() * 16);
    out.extend_from_slice(
        b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let mapped: Vec<(usize, char)> = subset
        .unicode
        .iter()
        .enumerate()
        .filter_map(|(gid, c)| c.map(|c| (gid, c)))
        .collect();
    for chunk in mapped.chunks(100) {
        let _ = writeln!(out, "{} beginbfchar", chunk.len());
        for &(gid, c) in chunk {
            let _ = write!(out, "<{gid:04X}> <");
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "{u:04X}");
            }
            out.extend_from_slice(b">\n");
        }
        out.extend_from_slice(b"endbfchar\n");
    }
    out.extend_from_slice(b"endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    out
}

/// One page's content stream: hairlines, then the text runs.
fn page_content(out: &mut Vec<u8>, page: &PageLayout, used: &[UsedFace]) {
    if !page.rules.is_empty() {
        out.extend_from_slice(GREY.as_bytes());
        out.extend_from_slice(b" G 0.5 w\n");
        for r in &page.rules {
            num(out, r.x1);
            num(out, r.y);
            out.extend_from_slice(b"m ");
            num(out, r.x2);
            num(out, r.y);
            out.extend_from_slice(b"l S\n");
        }
    }
    let mut is_grey = None;
    for run in &page.runs {
        let Some(f) = used.iter().find(|f| f.kind == run.font) else {
            continue; // cannot happen: every run's face is in `used`
        };
        if is_grey != Some(run.grey) {
            out.extend_from_slice(if run.grey { GREY.as_bytes() } else { b"0" });
            out.extend_from_slice(b" g\n");
            is_grey = Some(run.grey);
        }
        out.extend_from_slice(b"BT /");
        out.extend_from_slice(f.resource().as_bytes());
        out.push(b' ');
        num(out, run.size);
        out.extend_from_slice(b"Tf ");
        num(out, run.x);
        num(out, run.y);
        // The glyph ids as two-byte codes in a literal string: half the bytes
        // of hex, so half the compression work.
        out.extend_from_slice(b"Td (");
        for c in run.text.chars() {
            let id = f.subset.id(f.face.glyph_or_replacement(c));
            for b in id.to_be_bytes() {
                literal_byte(out, b);
            }
        }
        out.extend_from_slice(b") Tj ET\n");
    }
}

/// Writes `v` with at most two decimals and a trailing space (`12.5 `, `-3 `).
fn num(out: &mut Vec<u8>, v: f32) {
    let hundredths = (f64::from(v) * 100.0).round() as i64;
    if hundredths < 0 {
        out.push(b'-');
    }
    let abs = hundredths.unsigned_abs();
    let _ = write!(out, "{}", abs / 100);
    let frac = abs % 100;
    if frac != 0 {
        out.push(b'.');
        out.push(b'0' + (frac / 10) as u8);
        if frac % 10 != 0 {
            out.push(b'0' + (frac % 10) as u8);
        }
    }
    out.push(b' ');
}

/// One byte inside a literal string `( … )`: the delimiters and `\` escaped,
/// and CR and LF too, which a reader would otherwise take as a line end and read
/// as LF (ISO 32000-1 7.3.4.2).
fn literal_byte(out: &mut Vec<u8>, b: u8) {
    match b {
        b'(' | b')' | b'\\' => out.extend_from_slice(&[b'\\', b]),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\n' => out.extend_from_slice(b"\\n"),
        _ => out.push(b),
    }
}

/// A PDF text string: PDFDocEncoding-safe ASCII as a literal (see
/// [`literal_byte`]), anything else UTF-16BE with a byte-order mark, in hex.
fn text_string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        out.push(b'(');
        for b in s.bytes() {
            literal_byte(out, b);
        }
        out.push(b')');
    } else {
        out.extend_from_slice(b"<FEFF");
        for unit in s.encode_utf16() {
            let _ = write!(out, "{unit:04X}");
        }
        out.push(b'>');
    }
}

/// Writes numbered objects and remembers where each starts, for the xref table.
struct Writer {
    out: Vec<u8>,
    /// Byte offset of object `i` at index `i` (index 0 unused).
    offsets: Vec<usize>,
}

impl Writer {
    fn new(objects: usize, capacity: usize) -> Writer {
        Writer {
            out: Vec::with_capacity(capacity),
            offsets: vec![0; objects],
        }
    }

    fn begin(&mut self, id: usize) {
        if let Some(slot) = self.offsets.get_mut(id) {
            *slot = self.out.len();
        }
        let _ = writeln!(self.out, "{id} 0 obj");
    }

    fn end(&mut self) {
        self.out.extend_from_slice(b"\nendobj\n");
    }

    /// A stream object; `dict` holds every entry but `/Length`.
    fn stream(&mut self, id: usize, dict: &str, data: &[u8]) {
        self.begin(id);
        let _ = write!(self.out, "<< {dict} /Length {} >>\nstream\n", data.len());
        self.out.extend_from_slice(data);
        self.out.extend_from_slice(b"\nendstream");
        self.end();
    }

    /// The cross-reference table and trailer; `trailer` holds every entry but `/Size`.
    fn finish(mut self, trailer: &str) -> Vec<u8> {
        let xref = self.out.len();
        let _ = write!(
            self.out,
            "xref\n0 {}\n0000000000 65535 f \n",
            self.offsets.len()
        );
        for &offset in &self.offsets[1..] {
            let _ = writeln!(self.out, "{offset:010} 00000 n ");
        }
        let _ = write!(
            self.out,
            "trailer\n<< /Size {} {trailer} >>\nstartxref\n{xref}\n%%EOF\n",
            self.offsets.len()
        );
        self.out
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
