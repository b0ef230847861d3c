//! Renderer tests: real templates from `templates/`, checked with poppler's
//! `pdftotext` and `pdfinfo`.

use super::*;
