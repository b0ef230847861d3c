//! CMS encryption of SvarUt documents that require level-4 login
//! (`krevNiva4Innlogging`: «Dokumentene må da krypteres før innsending»).
//!
//! Stage: delivery (SvarUt). Input: a PDF and SvarUt's certificate (PEM, from
//! configuration). Output: a DER CMS `EnvelopedData` (RFC 5652) as KS's own
//! libraries make it (`ks-no/kryptering`): the content encrypted with a fresh
//! AES-256-CBC key, that key encrypted to the certificate's RSA key with RSAES-OAEP
//! (SHA-256, MGF1-SHA-256, empty label), the recipient named by issuer and serial
//! number. Failure: a [`CmsError`] — a certificate that cannot be read, is not
//! RSA, has a key shorter than 2048 bits or is outside its validity period is a
//! configuration error found when the client is built; validity is checked again
//! before every encryption, so a certificate that expires while the worker runs
//! stops sends with a clear error instead of encrypting to a dead key.
//!
//! DER rules kept by hand: a field whose value is its DEFAULT is omitted (X.690
//! §11.5), so the RSAES-OAEP parameters carry the hash and MGF (not the defaults
//! SHA-1 / MGF1-SHA-1) but no `pSourceAlgorithm` (its default, an empty label, is
//! what we use). The content-encryption key lives in a [`Zeroizing`] buffer and is
//! wiped from memory when it goes out of scope, on both sides.
//!
//! [`decrypt`] is the other side, for the SvarUt stand-in (which decrypts what it
//! receives, as SvarUt does when the recipient downloads) and the tests; OpenSSL
//! decrypts what [`encrypt`] makes (tested), so the format is not only ours.

use aes::cipher::{block_padding::Pkcs7, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, PrivateKey, PublicKey};
use zeroize::Zeroizing;

/// The shortest RSA key this side encrypts to (NSM / ENISA: 2048 bits at least).
pub const MIN_RSA_BITS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum CmsError {
    #[error("the certificate cannot be read: {0}")]
    Certificate(String),
    #[error("the certificate's key is not an RSA key: {0}")]
    NotRsa(String),
    #[error("the certificate's RSA key has {bits} bits; at least {MIN_RSA_BITS} are required")]
    KeyTooShort { bits: usize },
    #[error(
        "the certificate is not valid now: it is valid from {not_before} to {not_after} (UTC)"
    )]
    OutsideValidity {
        not_before: chrono::DateTime<chrono::Utc>,
        not_after: chrono::DateTime<chrono::Utc>,
    },
    #[error("encryption failed: {0}")]
    Encrypt(String),
    #[error("not a CMS EnvelopedData this side can decrypt: {0}")]
    Decrypt(String),
}

/// SvarUt's certificate, ready to encrypt to.
#[derive(Clone)]
pub struct RecipientCert {
    /// The DER of the certificate's issuer Name.
    issuer: Vec<u8>,
    /// The serial number's INTEGER content octets.
    serial: Vec<u8>,
    key: PublicKey,
    /// The validity period (notBefore, notAfter), checked before each use.
    not_before: chrono::DateTime<chrono::Utc>,
    not_after: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for RecipientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecipientCert(..)")
    }
}

impl RecipientCert {
    /// Reads a PEM certificate and checks it for use now (see [`Self::check_at`]).
    pub fn from_pem(pem: &[u8]) -> Result<RecipientCert, CmsError> {
        let cert = Self::read_pem(pem)?;
        cert.check_at(chrono::Utc::now())?;
        Ok(cert)
    }

    /// Whether the certificate may be encrypted to at `now`: inside its validity
    /// period, with an RSA key of at least [`MIN_RSA_BITS`] bits.
    pub fn check_at(&self, now: chrono::DateTime<chrono::Utc>) -> Result<(), CmsError> {
        let bits = self.key.size() * 8;
        if bits < MIN_RSA_BITS {
            return Err(CmsError::KeyTooShort { bits });
        }
        if now < self.not_before || now > self.not_after {
            return Err(CmsError::OutsideValidity {
                not_before: self.not_before,
                not_after: self.not_after,
            });
        }
        Ok(())
    }

    /// Parses without the checks of [`Self::check_at`].
    fn read_pem(pem: &[u8]) -> Result<RecipientCert, CmsError> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem)
            .map_err(|e| CmsError::Certificate(e.to_string()))?;
        let cert = pem
            .parse_x509()
            .map_err(|e| CmsError::Certificate(e.to_string()))?;
        let tbs = &cert.tbs_certificate;
        let key = PublicKey::from_public_key_der(tbs.subject_pki.raw)
            .map_err(|e| CmsError::NotRsa(e.to_string()))?;
        let time = |t: x509_parser::time::ASN1Time| {
            chrono::DateTime::from_timestamp(t.timestamp(), 0)
                .ok_or_else(|| CmsError::Certificate("a validity date out of range".into()))
        };
        Ok(RecipientCert {
            issuer: tbs.issuer.as_raw().to_vec(),
            serial: tbs.raw_serial().to_vec(),
            key,
            not_before: time(tbs.validity.not_before)?,
            not_after: time(tbs.validity.not_after)?,
        })
    }
}

// ---- DER, just what EnvelopedData needs -----------------------------------------

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut chunk = vec![(a & 0x7f) as u8];
        let mut v = a >> 7;
        while v > 0 {
            chunk.push(((v & 0x7f) as u8) | 0x80);
            v >>= 7;
        }
        chunk.reverse();
        body.extend(chunk);
    }
    tlv(0x06, &body)
}

const ID_DATA: &[u64] = &[1, 2, 840, 113549, 1, 7, 1];
const ID_ENVELOPED_DATA: &[u64] = &[1, 2, 840, 113549, 1, 7, 3];
const ID_RSAES_OAEP: &[u64] = &[1, 2, 840, 113549, 1, 1, 7];
const ID_MGF1: &[u64] = &[1, 2, 840, 113549, 1, 1, 8];
/// id-pSpecified: only the test that checks it is *not* encoded needs it.
#[cfg(test)]
const ID_P_SPECIFIED: &[u64] = &[1, 2, 840, 113549, 1, 1, 9];
const ID_SHA256: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 2, 1];
const ID_AES256_CBC: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 1, 42];

fn sha256_alg() -> Vec<u8> {
    seq(&[oid(ID_SHA256), vec![0x05, 0x00]])
}

/// RSAES-OAEP-params (RFC 8017 A.2.1) with SHA-256 and MGF1-SHA-256. The third
/// field, `pSourceAlgorithm`, is left out: its value (id-pSpecified with an empty
/// label) is the DEFAULT, and DER forbids encoding a default value.
fn oaep_alg() -> Vec<u8> {
    let params = seq(&[
        tlv(0xa0, &sha256_alg()),
        tlv(0xa1, &seq(&[oid(ID_MGF1), sha256_alg()])),
    ]);
    seq(&[oid(ID_RSAES_OAEP), params])
}

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// Encrypts `content` to `cert`: a DER `ContentInfo` holding `EnvelopedData`.
/// The certificate is checked first ([`RecipientCert::check_at`]).
pub fn encrypt(content: &[u8], cert: &RecipientCert) -> Result<Vec<u8>, CmsError> {
    use ring::rand::SecureRandom;
    cert.check_at(chrono::Utc::now())?;
    let rng = ring::rand::SystemRandom::new();
    let mut cek = Zeroizing::new([0u8; 32]);
    let mut iv = [0u8; 16];
    rng.fill(&mut cek[..])
        .and_then(|_| rng.fill(&mut iv))
        .map_err(|_| CmsError::Encrypt("no randomness from the operating system".into()))?;
    let ciphertext = Aes256CbcEnc::new_from_slices(&cek[..], &iv)
        .map_err(|_| CmsError::Encrypt("AES-256-CBC key or IV of the wrong length".into()))?
        .encrypt_padded_vec::<Pkcs7>(content);
    let encrypted_key = cert
        .key
        .encrypt(&mut rand::rng(), Oaep::<sha2::Sha256>::new(), &cek[..])
        .map_err(|e| CmsError::Encrypt(e.to_string()))?;
    let recipient = seq(&[
        tlv(0x02, &[0]),
        seq(&[cert.issuer.clone(), tlv(0x02, &cert.serial)]),
        oaep_alg(),
        tlv(0x04, &encrypted_key),
    ]);
    let encrypted_content_info = seq(&[
        oid(ID_DATA),
        seq(&[oid(ID_AES256_CBC), tlv(0x04, &iv)]),
        tlv(0x80, &ciphertext),
    ]);
    let enveloped = seq(&[
        tlv(0x02, &[0]),
        tlv(0x31, &recipient),
        encrypted_content_info,
    ]);
    Ok(seq(&[oid(ID_ENVELOPED_DATA), tlv(0xa0, &enveloped)]))
}

/// One DER element: (tag, content, rest). Definite lengths only (DER).
fn read(input: &[u8]) -> Result<(u8, &[u8], &[u8]), CmsError> {
    let bad = |m: &str| CmsError::Decrypt(m.to_string());
    let (&tag, rest) = input.split_first().ok_or_else(|| bad("truncated"))?;
    let (&first, rest) = rest.split_first().ok_or_else(|| bad("truncated"))?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 8 || rest.len() < n {
            return Err(bad("indefinite or oversized length"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(bad("truncated"));
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

fn expect(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), CmsError> {
    let (t, content, rest) = read(input)?;
    if t != tag {
        return Err(CmsError::Decrypt(format!(
            "expected tag {tag:#04x}, found {t:#04x}"
        )));
    }
    Ok((content, rest))
}

/// Decrypts a `ContentInfo`/`EnvelopedData` with one RSAES-OAEP (SHA-256)
/// recipient and AES-256-CBC content, with the PKCS#8 PEM `private_key`.
pub fn decrypt(der: &[u8], private_key_pem: &str) -> Result<Vec<u8>, CmsError> {
    let key = PrivateKey::from_pkcs8_pem(private_key_pem)
        .map_err(|e| CmsError::Decrypt(format!("private key: {e}")))?;
    let (content_info, _) = expect(der, 0x30)?;
    let (_, rest) = expect(content_info, 0x06)?;
    let (explicit, _) = expect(rest, 0xa0)?;
    let (enveloped, _) = expect(explicit, 0x30)?;
    let (_, rest) = expect(enveloped, 0x02)?;
    let (recipients, rest) = expect(rest, 0x31)?;
    let (eci, _) = expect(rest, 0x30)?;
    // The first recipient: version, rid, algorithm, encryptedKey.
    let (recipient, _) = expect(recipients, 0x30)?;
    let (_, r) = expect(recipient, 0x02)?;
    let (_, _, r) = read(r)?;
    let (_, r) = expect(r, 0x30)?;
    let (encrypted_key, _) = expect(r, 0x04)?;
    let cek = Zeroizing::new(
        key.decrypt(Oaep::<sha2::Sha256>::new(), encrypted_key)
            .map_err(|e| CmsError::Decrypt(format!("key transport: {e}")))?,
    );
    let (_, r) = expect(eci, 0x06)?;
    let (alg, r) = expect(r, 0x30)?;
    let (_, alg_rest) = expect(alg, 0x06)?;
    let (iv, _) = expect(alg_rest, 0x04)?;
    // [0] IMPLICIT OCTET STRING, primitive (0x80) or constructed (0xa0, BER-ish).
    let (tag, body, _) = read(r)?;
    let ciphertext = match tag {
        0x80 => body.to_vec(),
        0xa0 => {
            let mut out = Vec::new();
            let mut b = body;
            while !b.is_empty() {
                let (chunk, next) = expect(b, 0x04)?;
                out.extend_from_slice(chunk);
                b = next;
            }
            out
        }
        t => {
            return Err(CmsError::Decrypt(format!(
                "unexpected content tag {t:#04x}"
            )))
        }
    };
    if cek.len() != 32 || iv.len() != 16 {
        return Err(CmsError::Decrypt("not AES-256-CBC".into()));
    }
    let mut key_bytes = Zeroizing::new([0u8; 32]);
    key_bytes.copy_from_slice(&cek);
    let mut iv_bytes = [0u8; 16];
    iv_bytes.copy_from_slice(iv);
    Aes256CbcDec::new_from_slices(&key_bytes[..], &iv_bytes)
        .map_err(|_| CmsError::Decrypt("not AES-256-CBC".into()))?
        .decrypt_padded_vec::<Pkcs7>(&ciphertext)
        .map_err(|_| CmsError::Decrypt("bad padding".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = crate::channels::svarut_standin::DEMO_CERT;
    const KEY: &str = include_str!("../../examples/svarut-standin/demo-key.pem");

    #[test]
    fn round_trip() {
        let cert = RecipientCert::from_pem(CERT.as_bytes()).expect("cert");
        let pdf = b"%PDF-1.7 a letter with \xc3\xa6\xc3\xb8\xc3\xa5".repeat(100);
        let der = encrypt(&pdf, &cert).expect("encrypt");
        assert_ne!(&der[..], &pdf[..]);
        assert_eq!(decrypt(&der, KEY).expect("decrypt"), pdf);
        // A fresh content key each time.
        assert_ne!(encrypt(&pdf, &cert).expect("encrypt"), der);
    }

    /// X.690 §11.5: no DEFAULT value is encoded. The OAEP parameters name the
    /// hash and the MGF (not their defaults) and no pSourceAlgorithm (its value
    /// would be the default); OpenSSL's strict DER parser reads it back.
    #[test]
    fn oaep_parameters_are_der() {
        let params = oaep_alg();
        let p_specified = oid(ID_P_SPECIFIED);
        assert!(
            !params.windows(p_specified.len()).any(|w| w == p_specified),
            "pSourceAlgorithm (id-pSpecified) must not be encoded"
        );
        assert!(!params.windows(3).any(|w| w == [0xa2, 0x0f, 0x30]));
        // SEQUENCE { oid, SEQUENCE { [0] hash, [1] mgf } } and nothing else.
        let (alg, rest) = expect(&params, 0x30).expect("sequence");
        assert!(rest.is_empty());
        let (_, rest) = expect(alg, 0x06).expect("oid");
        let (fields, rest) = expect(rest, 0x30).expect("params");
        assert!(rest.is_empty());
        let (_, rest) = expect(fields, 0xa0).expect("hashAlgorithm");
        let (_, rest) = expect(rest, 0xa1).expect("maskGenAlgorithm");
        assert!(rest.is_empty(), "no third field");
    }

    #[test]
    fn validity_and_key_size_are_checked() {
        let cert = RecipientCert::from_pem(CERT.as_bytes()).expect("valid now");
        let before = cert.not_before - chrono::Duration::seconds(1);
        let after = cert.not_after + chrono::Duration::seconds(1);
        for t in [before, after] {
            let e = cert.check_at(t).expect_err("outside its validity");
            assert!(matches!(e, CmsError::OutsideValidity { .. }), "{e}");
            assert!(e.to_string().contains("not valid now"), "{e}");
        }
        assert!(cert.check_at(cert.not_before).is_ok());
        // A real 1024-bit certificate, made by OpenSSL, is refused when read.
        let dir = tempfile::tempdir().expect("tempdir");
        let status = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=short"])
            .arg("-keyout")
            .arg(dir.path().join("k.pem"))
            .arg("-out")
            .arg(dir.path().join("c.pem"))
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl runs (Debian: openssl)");
        assert!(status.success());
        let short = std::fs::read(dir.path().join("c.pem")).expect("read");
        match RecipientCert::from_pem(&short) {
            Err(CmsError::KeyTooShort { bits: 1024 }) => {}
            other => panic!("a 1024-bit key must be refused, got {other:?}"),
        }
    }

    #[test]
    fn not_a_certificate_is_a_configuration_error() {
        assert!(matches!(
            RecipientCert::from_pem(
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
            ),
            Err(CmsError::Certificate(_))
        ));
    }

    /// OpenSSL — an implementation that is not ours — decrypts what we encrypt,
    /// and we decrypt what it encrypts the way KS's library does.
    #[test]
    fn openssl_agrees() {
        let Ok(out) = std::process::Command::new("openssl")
            .arg("version")
            .output()
        else {
            panic!("openssl is needed for this test (Debian: openssl)");
        };
        assert!(out.status.success());
        let dir = tempfile::tempdir().expect("tempdir");
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("cert.pem"), CERT).expect("write");
        std::fs::write(p("key.pem"), KEY).expect("write");
        let pdf = b"%PDF-1.7\n1 0 obj << >> endobj\n%%EOF\n".repeat(50);
        let cert = RecipientCert::from_pem(CERT.as_bytes()).expect("cert");
        std::fs::write(p("ours.der"), encrypt(&pdf, &cert).expect("encrypt")).expect("write");
        let status = std::process::Command::new("openssl")
            .args(["cms", "-decrypt", "-inform", "DER", "-binary"])
            .arg("-in")
            .arg(p("ours.der"))
            .arg("-recip")
            .arg(p("cert.pem"))
            .arg("-inkey")
            .arg(p("key.pem"))
            .arg("-out")
            .arg(p("ours.pdf"))
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl decrypts our EnvelopedData");
        assert_eq!(std::fs::read(p("ours.pdf")).expect("read"), pdf);

        std::fs::write(p("plain.pdf"), &pdf).expect("write");
        let status = std::process::Command::new("openssl")
            .args(["cms", "-encrypt", "-binary", "-outform", "DER", "-aes256"])
            .arg("-recip")
            .arg(p("cert.pem"))
            // Key options apply to the -recip before them.
            .args([
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
                "-keyopt",
                "rsa_mgf1_md:sha256",
            ])
            .arg("-in")
            .arg(p("plain.pdf"))
            .arg("-out")
            .arg(p("theirs.der"))
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl encrypts");
        let theirs = std::fs::read(p("theirs.der")).expect("read");
        assert_eq!(decrypt(&theirs, KEY).expect("we decrypt OpenSSL's"), pdf);
    }
}
