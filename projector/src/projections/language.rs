//! The language a visitor writes in, when their client did not declare one: detected from the
//! text of each of their messages with `whatlang`, a pure function of the text (a rebuild
//! detects the same, as long as the crate's version in Cargo.lock stays). Only a detection of
//! [`MIN_CONFIDENCE`] counts: a short "ok" names no language rather than a wrong one.

use whatlang::Lang;

/// The ISO 639-1 code (the language subtag of BCP 47, as `context.language` declares it) of
/// the language `text` is written in, when the detection is confident enough.
pub fn detect(text: &str) -> Option<&'static str> {
    let info = whatlang::detect(text)?;
    (info.confidence() >= MIN_CONFIDENCE).then(|| code(info.lang()))
}

/// The confidence (`whatlang`'s, 0 to 1) a detection needs. `whatlang` calls 0.9 reliable,
/// which most chat messages of a sentence or two never reach (a German question of nine words
/// scores 0.6); the wrong guesses it makes for a word or two ("hello": Danish) score below
/// 0.11. A constant, not a setting: a rebuild must detect what the live version did.
pub const MIN_CONFIDENCE: f64 = 0.5;

/// ISO 639-1 for each language `whatlang` knows (it names them in ISO 639-3).
fn code(lang: Lang) -> &'static str {
    match lang {
        Lang::Epo => "eo",
        Lang::Eng => "en",
        Lang::Rus => "ru",
        Lang::Cmn => "zh",
        Lang::Spa => "es",
        Lang::Por => "pt",
        Lang::Ita => "it",
        Lang::Ben => "bn",
        Lang::Fra => "fr",
        Lang::Deu => "de",
        Lang::Ukr => "uk",
        Lang::Kat => "ka",
        Lang::Ara => "ar",
        Lang::Hin => "hi",
        Lang::Jpn => "ja",
        Lang::Heb => "he",
        Lang::Yid => "yi",
        Lang::Pol => "pl",
        Lang::Amh => "am",
        Lang::Jav => "jv",
        Lang::Kor => "ko",
        Lang::Nob => "nb",
        Lang::Dan => "da",
        Lang::Swe => "sv",
        Lang::Fin => "fi",
        Lang::Tur => "tr",
        Lang::Nld => "nl",
        Lang::Hun => "hu",
        Lang::Ces => "cs",
        Lang::Ell => "el",
        Lang::Bul => "bg",
        Lang::Bel => "be",
        Lang::Mar => "mr",
        Lang::Kan => "kn",
        Lang::Ron => "ro",
        Lang::Slv => "sl",
        Lang::Hrv => "hr",
        Lang::Srp => "sr",
        Lang::Mkd => "mk",
        Lang::Lit => "lt",
        Lang::Lav => "lv",
        Lang::Est => "et",
        Lang::Tam => "ta",
        Lang::Vie => "vi",
        Lang::Urd => "ur",
        Lang::Tha => "th",
        Lang::Guj => "gu",
        Lang::Uzb => "uz",
        Lang::Pan => "pa",
        Lang::Aze => "az",
        Lang::Ind => "id",
        Lang::Tel => "te",
        Lang::Pes => "fa",
        Lang::Mal => "ml",
        Lang::Ori => "or",
        Lang::Mya => "my",
        Lang::Nep => "ne",
        Lang::Sin => "si",
        Lang::Khm => "km",
        Lang::Tuk => "tk",
        Lang::Aka => "ak",
        Lang::Zul => "zu",
        Lang::Sna => "sn",
        Lang::Afr => "af",
        Lang::Lat => "la",
        Lang::Slk => "sk",
        Lang::Cat => "ca",
        Lang::Tgl => "tl",
        Lang::Hye => "hy",
        Lang::Cym => "cy",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_its_own_two_letter_code() {
        let mut codes: Vec<&str> = Lang::all().iter().map(|l| code(*l)).collect();
        assert!(codes.iter().all(|c| c.len() == 2), "{codes:?}");
        codes.sort_unstable();
        let before = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), before, "two languages share a code");
    }

    #[test]
    fn sentences_are_detected_and_a_word_is_not() {
        for (text, language) in [
            (
                "Bonjour, est-ce que vous livrez en Belgique la semaine prochaine ?",
                "fr",
            ),
            (
                "Do you ship to Norway, and how long does delivery usually take?",
                "en",
            ),
            (
                "Können Sie mir bitte sagen, wann meine Bestellung ankommt?",
                "de",
            ),
            (
                "¿Cuánto cuesta el envío a Madrid y cuándo llegaría el paquete?",
                "es",
            ),
        ] {
            assert_eq!(detect(text), Some(language), "{text}");
        }
        for text in [
            "ok",
            "hello",
            "merci",
            "Do you ship to Norway?",
            "",
            "👍",
            "12345",
        ] {
            assert_eq!(detect(text), None, "{text:?}");
        }
    }
}
