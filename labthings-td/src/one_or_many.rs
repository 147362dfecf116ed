//! A TD term that may be written as one value or as an array of them
//! (`op`, `security`, `@context`).

use serde::{Deserialize, Serialize};

/// One value, or several: serialised as it was given (a string stays a
/// string, an array an array).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// Written as a single value.
    One(T),
    /// Written as an array.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The values, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        match self {
            Self::One(one) => std::slice::from_ref(one).iter(),
            Self::Many(many) => many.iter(),
        }
    }

    /// Append `value`, turning a single value into an array.
    pub fn push(&mut self, value: T) {
        let old = std::mem::replace(self, Self::Many(Vec::new()));
        let mut list = match old {
            Self::One(one) => vec![one],
            Self::Many(many) => many,
        };
        list.push(value);
        *self = Self::Many(list);
    }

    /// Keep only the values `keep` accepts, as an array.
    ///
    /// ```
    /// use labthings_td::OneOrMany;
    /// let mut context = OneOrMany::Many(vec!["a", "b", "c"]);
    /// context.retain(|c| *c != "b");
    /// assert_eq!(context, OneOrMany::Many(vec!["a", "c"]));
    /// ```
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        let old = std::mem::replace(self, Self::Many(Vec::new()));
        let mut list = match old {
            Self::One(one) => vec![one],
            Self::Many(many) => many,
        };
        list.retain(keep);
        *self = Self::Many(list);
    }
}

impl<T: PartialEq> OneOrMany<T> {
    /// Whether `value` is among the values.
    pub fn contains(&self, value: &T) -> bool {
        self.iter().any(|v| v == value)
    }
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        Self::Many(Vec::new())
    }
}

impl<T> From<Vec<T>> for OneOrMany<T> {
    fn from(list: Vec<T>) -> Self {
        Self::Many(list)
    }
}

impl<'a, T> IntoIterator for &'a OneOrMany<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::OneOrMany;

    #[test]
    fn a_string_stays_a_string_and_an_array_an_array() {
        let one: OneOrMany<String> = serde_json::from_str("\"a\"").expect("one");
        assert_eq!(serde_json::to_string(&one).expect("json"), "\"a\"");
        let mut many: OneOrMany<String> = serde_json::from_str("[\"a\"]").expect("many");
        assert_eq!(serde_json::to_string(&many).expect("json"), "[\"a\"]");
        many.push("b".into());
        assert_eq!(many.iter().map(String::as_str).collect::<Vec<_>>(), ["a", "b"]);
    }
}
