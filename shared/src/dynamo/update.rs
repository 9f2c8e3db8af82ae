//! An `UpdateItem` expression built clause by clause (`SET`, `REMOVE`, `ADD`), so that parts from
//! different places (the route's own fields, a [`WriteToken`]'s clauses) go into one expression,
//! each clause written once as DynamoDB requires.

use super::WriteToken;

/// The clauses of an update expression.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateExpression {
    set: Vec<String>,
    remove: Vec<String>,
    add: Vec<String>,
}

impl UpdateExpression {
    /// An empty expression.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a `SET` action (`#a = :a`, `#b = if_not_exists(#b, :zero)`, ...).
    pub fn set(mut self, action: impl Into<String>) -> Self {
        self.set.push(action.into());
        self
    }

    /// Adds a `REMOVE` action (`#a`).
    pub fn remove(mut self, path: impl Into<String>) -> Self {
        self.remove.push(path.into());
        self
    }

    /// Adds an `ADD` action (`#count :n`).
    pub fn add_action(mut self, action: impl Into<String>) -> Self {
        self.add.push(action.into());
        self
    }

    /// Adds `token`'s clauses (see [`WriteToken`]; its condition, names and values are the
    /// caller's to add).
    pub fn once(self, token: &WriteToken) -> Self {
        self.add_action(token.add_clause())
            .remove(token.remove_clause())
    }

    /// The expression text.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        for (keyword, actions) in [
            ("SET", &self.set),
            ("REMOVE", &self.remove),
            ("ADD", &self.add),
        ] {
            if !actions.is_empty() {
                out.push(format!("{keyword} {}", actions.join(", ")));
            }
        }
        out.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_clause_is_written_once_with_its_actions() {
        let token = WriteToken::new(0.0);
        let expression = UpdateExpression::new()
            .set("#a = :a")
            .add_action("#n :one")
            .set("#b = if_not_exists(#b, :zero)")
            .remove("#c")
            .once(&token);
        assert_eq!(
            expression.render(),
            "SET #a = :a, #b = if_not_exists(#b, :zero) REMOVE #c, #_onceDrop ADD #n :one, #_onceAdd :_onceSet"
        );
        assert_eq!(
            UpdateExpression::new().set("#a = :a").render(),
            "SET #a = :a"
        );
    }
}
