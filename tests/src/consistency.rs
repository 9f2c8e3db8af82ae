//! An SDK interceptor that fails every eventually consistent read: each `GetItem`, `Query`, `Scan`
//! and `BatchGetItem` must ask for `ConsistentRead`, and a `Query` or `Scan` may use only the base
//! table or a local secondary index (a global secondary index cannot be read consistently).
//! `TransactGetItems` is always consistent. The test clients ([`crate::DynamoTables`]) carry it, so
//! every conformance suite on DynamoDB Local checks every read its routes make.

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
use aws_sdk_dynamodb::operation::get_item::GetItemInput;
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::operation::scan::ScanInput;
use aws_smithy_runtime_api::client::interceptors::context::Input;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Refuses eventually consistent reads (see the module docs).
#[derive(Debug, Clone)]
pub struct ConsistentReadsOnly {
    local_indexes: Arc<BTreeSet<String>>,
}

impl ConsistentReadsOnly {
    /// The guard for the tables of `template.yaml`: the local secondary indexes it defines are the
    /// only indexes a read may use.
    pub fn from_template() -> Self {
        let local_indexes = devserver::tables()
            .flat_map(|table| {
                devserver::tables::table(table.resource)
                    .local_secondary_indexes
                    .into_iter()
                    .map(|index| index.index_name)
            })
            .collect();
        Self {
            local_indexes: Arc::new(local_indexes),
        }
    }

    /// Why the read described by `input` is not strongly consistent, if it is not.
    pub fn violation(&self, input: &Input) -> Option<String> {
        let index = |name: Option<&str>| {
            match name {
            Some(name) if !self.local_indexes.contains(name) => Some(format!(
                "reads index {name}, which is not a local secondary index (a global one is eventually consistent)"
            )),
            _ => None,
        }
        };
        let consistent = |flag: Option<bool>, op: &str| {
            (flag != Some(true)).then(|| format!("{op} without ConsistentRead"))
        };
        if let Some(input) = input.downcast_ref::<GetItemInput>() {
            return consistent(input.consistent_read(), "GetItem");
        }
        if let Some(input) = input.downcast_ref::<QueryInput>() {
            return index(input.index_name())
                .or_else(|| consistent(input.consistent_read(), "Query"));
        }
        if let Some(input) = input.downcast_ref::<ScanInput>() {
            return index(input.index_name())
                .or_else(|| consistent(input.consistent_read(), "Scan"));
        }
        if let Some(input) = input.downcast_ref::<BatchGetItemInput>() {
            return input.request_items().and_then(|tables| {
                tables.iter().find_map(|(table, keys)| {
                    consistent(keys.consistent_read(), &format!("BatchGetItem on {table}"))
                })
            });
        }
        None
    }
}

impl Intercept for ConsistentReadsOnly {
    fn name(&self) -> &'static str {
        "ConsistentReadsOnly"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match self.violation(context.input()) {
            Some(why) => {
                eprintln!("eventually consistent read refused: {why}");
                Err(format!("eventually consistent read refused by the test guard: {why}").into())
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> ConsistentReadsOnly {
        ConsistentReadsOnly {
            local_indexes: Arc::new(BTreeSet::from(["byCreatedAt".to_owned()])),
        }
    }

    #[test]
    fn only_consistent_reads_of_the_base_table_or_a_local_index_pass() {
        let guard = guard();
        let get = |consistent: Option<bool>| {
            Input::erase(
                GetItemInput::builder()
                    .table_name("t")
                    .set_consistent_read(consistent)
                    .build()
                    .unwrap(),
            )
        };
        assert_eq!(guard.violation(&get(Some(true))), None);
        assert!(guard.violation(&get(None)).is_some());
        assert!(guard.violation(&get(Some(false))).is_some());

        let query = |index: Option<&str>, consistent: bool| {
            Input::erase(
                QueryInput::builder()
                    .table_name("t")
                    .set_index_name(index.map(str::to_owned))
                    .consistent_read(consistent)
                    .build()
                    .unwrap(),
            )
        };
        assert_eq!(guard.violation(&query(None, true)), None);
        assert_eq!(guard.violation(&query(Some("byCreatedAt"), true)), None);
        assert!(guard
            .violation(&query(Some("byCreatedAt"), false))
            .is_some());
        assert!(guard
            .violation(&query(Some("activeByOwner"), true))
            .unwrap()
            .contains("not a local secondary index"));

        let scan = Input::erase(ScanInput::builder().table_name("t").build().unwrap());
        assert!(guard.violation(&scan).is_some());
        let batch = Input::erase(
            BatchGetItemInput::builder()
                .request_items(
                    "t",
                    aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                        .keys(Default::default())
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        );
        assert!(guard.violation(&batch).is_some());
    }
}
