//! `template.yaml` as CloudFormation sees it after the `AWS::LanguageExtensions` transform:
//! `Fn::ForEach` loops expanded, so tests can look resources up by their final logical ids.

use serde_norway::Value;

/// The template with its `Fn::ForEach` loops expanded.
pub fn expanded() -> Value {
    let mut template: Value =
        serde_norway::from_str(devserver::tables::TEMPLATE).expect("template.yaml is YAML");
    let resources = template["Resources"]
        .as_mapping()
        .expect("Resources")
        .clone();
    template["Resources"] = Value::Mapping(expand_loops(resources));
    template
}

/// Every resource of `kind` (e.g. `AWS::Logs::MetricFilter`), with its logical id.
pub fn resources_of(template: &Value, kind: &str) -> Vec<(String, Value)> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(id, r)| (id.as_str().expect("logical id").to_owned(), r.clone()))
        .collect()
}

fn expand_loops(resources: serde_norway::Mapping) -> serde_norway::Mapping {
    let mut out = serde_norway::Mapping::new();
    for (key, value) in resources {
        let name = key.as_str().unwrap_or_default();
        if !name.starts_with("Fn::ForEach::") {
            out.insert(key, value);
            continue;
        }
        let parts = value
            .as_sequence()
            .unwrap_or_else(|| panic!("{name}: [identifier, collection, fragment]"));
        let ident = parts[0].as_str().expect("loop identifier");
        let fragment = parts[2].as_mapping().expect("loop fragment");
        for item in parts[1]
            .as_sequence()
            .expect("loop collection (a literal list)")
        {
            let item = item.as_str().expect("loop items are strings");
            for (k, v) in fragment {
                out.insert(substitute(k, ident, item), substitute(v, ident, item));
            }
        }
    }
    out
}

/// Replaces `${ident}` by `item` and `&{ident}` by `item` without its non-alphanumeric characters,
/// everywhere in `value` (keys, strings, tagged values such as `!Ref`).
fn substitute(value: &Value, ident: &str, item: &str) -> Value {
    let alnum: String = item.chars().filter(char::is_ascii_alphanumeric).collect();
    let text = |s: &str| {
        s.replace(&format!("${{{ident}}}"), item)
            .replace(&format!("&{{{ident}}}"), &alnum)
    };
    match value {
        Value::String(s) => Value::String(text(s)),
        Value::Sequence(items) => {
            Value::Sequence(items.iter().map(|v| substitute(v, ident, item)).collect())
        }
        Value::Mapping(map) => Value::Mapping(
            map.iter()
                .map(|(k, v)| (substitute(k, ident, item), substitute(v, ident, item)))
                .collect(),
        ),
        Value::Tagged(tagged) => Value::Tagged(Box::new(serde_norway::value::TaggedValue {
            tag: tagged.tag.clone(),
            value: substitute(&tagged.value, ident, item),
        })),
        other => other.clone(),
    }
}
