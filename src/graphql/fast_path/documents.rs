//! The documents of the query texts a schema saw most recently, parsed once, and what
//! validating them gave.
//!
//! Front ends send the same few query texts over and over. Parsing one was a third of the
//! instructions of a refused query (callgrind: ~60,000 of ~180,000), and validating it with
//! async-graphql's rules another seventh (~15,500 of ~110,000). A request whose text was parsed
//! before gets a copy of that document. Its validation is skipped only where nothing but the
//! text, the operation asked for and the schema can change the outcome: the document declares
//! no variable, and the same schema validated the same text for the same operation before.
//! The depth and complexity limits are part of that outcome, and both are the schema's own.
//! (The variants of a schema, with the guard and without, share their types and limits, and
//! so their documents: see [`super::Route`].)

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{ServerError, ValidationResult};

/// One schema's parsed documents, by query text.
#[derive(Default)]
pub struct Documents {
    parsed: Mutex<HashMap<String, Arc<Known>>>,
}

/// A query text parsed before.
struct Known {
    document: ExecutableDocument,
    /// Whether no operation of the document declares a variable. Then its validation reads
    /// nothing of the request but the operation name: a variable the document does not declare
    /// cannot be used in it (the rule `NoUndefinedVariables`).
    variable_free: bool,
    /// The successful validations, by the operation asked for: none, or one the document
    /// holds (so that a caller cannot make the list grow with made-up names).
    validated: Mutex<Vec<(Option<String>, ValidationResult)>>,
}

/// Request data: the document of this request's text was parsed before, and `operation` of it
/// is asked for. Given only to requests of variable-free documents.
pub(in crate::graphql) struct Seen {
    known: Arc<Known>,
    operation: Option<String>,
}

impl Documents {
    /// How many documents are kept; the cache starts again empty when it is full.
    const CAPACITY: usize = 64;
    /// The longest query text kept, in bytes.
    const LONGEST: usize = 4096;

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Known>>> {
        self.parsed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives `request` the document of its text when that text was parsed before, and keeps
    /// the document of a new text that parses. Kept are only texts of at most
    /// [`Self::LONGEST`] bytes that hold no mutation (whose texts may carry passwords).
    ///
    /// Returns what the validation hook of the guarded schema needs, for a variable-free
    /// document; the caller adds it to the request's data when that schema runs it.
    pub(in crate::graphql) fn prepare(&self, request: &mut async_graphql::Request) -> Option<Seen> {
        if request.query.len() > Self::LONGEST {
            return None;
        }
        let found = self.lock().get(&request.query).cloned();
        let known = match found {
            Some(known) => {
                // Copied outside the lock.
                request.set_parsed_query(known.document.clone());
                known
            }
            None => {
                // A text that does not parse is left to `execute`, which reports the error.
                let document = request.parsed_query().ok()?;
                let mutation = document
                    .operations
                    .iter()
                    .any(|(_, operation)| operation.node.ty == OperationType::Mutation);
                if mutation {
                    return None;
                }
                let variable_free = document
                    .operations
                    .iter()
                    .all(|(_, operation)| operation.node.variable_definitions.is_empty());
                let known = Arc::new(Known {
                    document: document.clone(),
                    variable_free,
                    validated: Mutex::default(),
                });
                let mut parsed = self.lock();
                if parsed.len() >= Self::CAPACITY {
                    parsed.clear();
                }
                parsed.insert(request.query.clone(), known.clone());
                known
            }
        };
        known.variable_free.then(|| Seen {
            known,
            operation: request.operation_name.clone(),
        })
    }
}

impl Seen {
    fn validated(&self) -> Option<ValidationResult> {
        let validated = self
            .known
            .validated
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        validated
            .iter()
            .find(|(operation, _)| operation.as_deref() == self.operation.as_deref())
            .map(|(_, result)| *result)
    }

    fn remember(&self, result: ValidationResult) {
        if let Some(name) = &self.operation
            && !self
                .known
                .document
                .operations
                .iter()
                .any(|(operation, _)| operation.is_some_and(|n| n.as_str() == name))
        {
            return;
        }
        let mut validated = self
            .known
            .validated
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !validated
            .iter()
            .any(|(operation, _)| *operation == self.operation)
        {
            validated.push((self.operation.clone(), result));
        }
    }
}

/// The one extension of the schema variant that runs cleared requests selecting no list: it
/// remembers validations, as the guard does (see [`super::Route`]).
pub(in crate::graphql) struct RememberValidations;

impl ExtensionFactory for RememberValidations {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RememberValidations)
    }
}

#[async_trait::async_trait]
impl Extension for RememberValidations {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        validate(ctx, next).await
    }
}

/// The validation step of a schema extension: async-graphql's rules when the request carries
/// no [`Seen`] or its document was not validated for its operation before; else what they gave
/// then. Only successes are kept: a document that fails is checked again each time, and gives
/// its errors each time.
pub(in crate::graphql) async fn validate(
    ctx: &ExtensionContext<'_>,
    next: NextValidation<'_>,
) -> Result<ValidationResult, Vec<ServerError>> {
    let Some(seen) = ctx.data_opt::<Seen>() else {
        return next.run(ctx).await;
    };
    if let Some(result) = seen.validated() {
        return Ok(result);
    }
    let result = next.run(ctx).await;
    if let Ok(result) = &result {
        seen.remember(*result);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(documents: &Documents, query: &str) -> bool {
        documents.lock().contains_key(query)
    }

    fn validation(complexity: usize) -> ValidationResult {
        ValidationResult {
            cache_control: Default::default(),
            complexity,
            depth: 1,
        }
    }

    #[test]
    fn documents_keep_parsed_short_texts_and_stay_bounded() {
        let documents = Documents::default();
        let mut request = async_graphql::Request::new("{ me { id } }");
        documents.prepare(&mut request);
        assert!(kept(&documents, "{ me { id } }"));
        // The copy a request gets is the document its own text parses to.
        let mut again = async_graphql::Request::new("{ me { id } }");
        documents.prepare(&mut again);
        let mut fresh = async_graphql::Request::new("{ me { id } }");
        assert_eq!(
            format!("{:?}", again.parsed_query().unwrap()),
            format!("{:?}", fresh.parsed_query().unwrap())
        );

        let login =
            r#"mutation { login(input: {identifier: "ann", password: "Secret123"}) { jwt } }"#;
        for text in [
            "{ me { id } ",
            &format!("{{ me {{ id }} }} #{}", "x".repeat(5_000)),
            login,
        ] {
            assert!(
                documents
                    .prepare(&mut async_graphql::Request::new(text))
                    .is_none()
            );
            assert!(!kept(&documents, text), "{:.20}", text);
        }
        for n in 0..Documents::CAPACITY * 2 {
            documents.prepare(&mut async_graphql::Request::new(format!(
                "{{ a{n}: me {{ id }} }}"
            )));
            assert!(documents.lock().len() <= Documents::CAPACITY);
        }
    }

    #[test]
    fn only_variable_free_documents_skip_validation() {
        let documents = Documents::default();
        let text = "query($id: ID!) { user(id: $id) { id } }";
        for _ in 0..2 {
            let seen = documents.prepare(&mut async_graphql::Request::new(text));
            assert!(
                seen.is_none(),
                "a document with variables is validated every time"
            );
        }
        let text = "{ me { id } }";
        let seen = documents
            .prepare(&mut async_graphql::Request::new(text))
            .expect("variable-free");
        assert!(seen.validated().is_none());
        seen.remember(validation(7));
        let again = documents
            .prepare(&mut async_graphql::Request::new(text))
            .expect("variable-free");
        assert_eq!(again.validated().map(|r| r.complexity), Some(7));
    }

    #[test]
    fn validations_are_kept_per_operation_and_only_for_operations_of_the_document() {
        let documents = Documents::default();
        let text = "query A { me { id } } query B { me { username } }";
        let ask = |operation: Option<&str>| {
            let mut request = async_graphql::Request::new(text);
            if let Some(name) = operation {
                request = request.operation_name(name);
            }
            documents.prepare(&mut request).expect("variable-free")
        };
        ask(Some("A")).remember(validation(1));
        assert_eq!(ask(Some("A")).validated().map(|r| r.complexity), Some(1));
        assert!(ask(Some("B")).validated().is_none());
        assert!(ask(None).validated().is_none());
        ask(Some("B")).remember(validation(2));
        assert_eq!(ask(Some("B")).validated().map(|r| r.complexity), Some(2));
        // A name the document does not hold is never remembered.
        for n in 0..100 {
            ask(Some(&format!("C{n}"))).remember(validation(3));
        }
        assert!(ask(Some("C0")).validated().is_none());
        let known = documents.lock().get(text).cloned().unwrap();
        assert_eq!(known.validated.lock().unwrap().len(), 2);
    }
}
