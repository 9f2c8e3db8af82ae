//! How pipeline names sort: the way a person expects, without a collation library.
//!
//! Names compare by a *collation key*: the name lower-cased (Unicode lower case), with the
//! diacritics of Latin letters removed (`é` → `e`, `ß` → `ss`, `Æ` → `ae`, combining marks dropped),
//! compared as code points. Names with equal keys compare by the name itself (code points), then by
//! id, so the order is total and the same on both stores. So `alpha` < `Beta` < `émile` < `Gamma`.
//! Unlike a full Unicode collation (ICU, JavaScript's `localeCompare`), punctuation and digits sort
//! by code point and scripts other than Latin keep their code-point order; a full collation table
//! would cost more binary size than pipeline names are worth.
//!
//! The key also orders the owner index (its sort key, [`index_key`]), so the first 500 pipelines of
//! an owner read from the index are the first 500 by name.

use std::cmp::Ordering;

/// Longest index sort key kept, bytes (DynamoDB allows 1024); names that agree on this many bytes of
/// key are ordered by the full comparison after reading.
pub const INDEX_KEY_BYTES: usize = 512;

/// The collation key of `name` (never empty when `name` is not).
pub fn key(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if ('\u{300}'..='\u{36f}').contains(&c) {
            continue;
        }
        match fold(c) {
            Some(base) => out.push_str(base),
            None => out.push(c),
        }
    }
    if out.is_empty() {
        name.to_owned()
    } else {
        out
    }
}

/// The collation key cut to at most [`INDEX_KEY_BYTES`] bytes, on a character boundary.
pub fn index_key(name: &str) -> String {
    let mut key = key(name);
    if key.len() > INDEX_KEY_BYTES {
        let mut end = INDEX_KEY_BYTES;
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        key.truncate(end);
    }
    key
}

/// Compares two `(name, id)` pairs in list order.
pub fn compare(a: (&str, &str), b: (&str, &str)) -> Ordering {
    key(a.0)
        .cmp(&key(b.0))
        .then_with(|| a.0.cmp(b.0))
        .then_with(|| a.1.cmp(b.1))
}

/// Sorts `items` in list order, by the `(name, id)` that `fields` gives.
pub fn sort_by_name<T>(items: &mut [T], fields: impl Fn(&T) -> (&str, &str)) {
    items.sort_by_cached_key(|item| {
        let (name, id) = fields(item);
        (key(name), name.to_owned(), id.to_owned())
    });
}

/// The base letters of a lower-case Latin letter with a diacritic (Latin-1 Supplement and Latin
/// Extended-A).
fn fold(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' | 'ĸ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' | 'ŋ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut items: Vec<(String, String)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), format!("id{i}")))
            .collect();
        sort_by_name(&mut items, |(n, id)| (n.as_str(), id.as_str()));
        items.into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn case_does_not_split_the_alphabet() {
        assert_eq!(
            sorted(&["banana", "Cherry", "apple", "Banana", "alpha"]),
            ["alpha", "apple", "Banana", "banana", "Cherry"]
        );
    }

    #[test]
    fn accented_letters_sort_with_their_base_letter() {
        assert_eq!(
            sorted(&["zeta", "Émile", "emma", "Ærø", "adam", "Straße", "strasse"]),
            ["adam", "Ærø", "Émile", "emma", "Straße", "strasse", "zeta"]
        );
        assert_eq!(key("e\u{301}cole"), "ecole", "combining marks are dropped");
    }

    #[test]
    fn equal_names_order_by_id_and_compare_agrees_with_sort() {
        assert_eq!(compare(("Same", "b"), ("same", "a")), Ordering::Less);
        assert_eq!(compare(("x", "a"), ("x", "b")), Ordering::Less);
        assert_eq!(key("\u{301}"), "\u{301}", "a key is never empty");
    }

    #[test]
    fn index_keys_are_cut_on_a_character_boundary() {
        let long = "é".repeat(600);
        assert_eq!(index_key(&long), "e".repeat(INDEX_KEY_BYTES));
        let wide = "日".repeat(400);
        let cut = index_key(&wide);
        assert!(cut.len() <= INDEX_KEY_BYTES && wide.starts_with(&cut));
    }
}
