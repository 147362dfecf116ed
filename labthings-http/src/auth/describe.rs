//! How the TD and the OpenAPI document declare the credentials the server
//! accepts, in each vocabulary's own terms (WoT security schemes, OpenAPI
//! security schemes).

use labthings_td::{OneOrMany, ThingDescription};
use serde_json::{Map, Value, json};

use super::Authenticator;
use crate::access::AccessTable;
use crate::binding::Access;
use axum::http::Method;

/// Set a TD's `securityDefinitions` and `security` to what `auth` accepts:
/// `nosec` when authentication is off; `bearer`, `basic` or a `combo` of
/// both otherwise. When anonymous observers are allowed, forms that only
/// read say `nosec` for themselves.
pub(crate) fn td_security(td: &mut ThingDescription, auth: &Authenticator) {
    if !auth.enabled() {
        return;
    }
    let mut definitions = Map::new();
    let mut accepted = Vec::new();
    if auth.has_tokens() {
        definitions.insert(
            "bearer_sc".into(),
            json!({"scheme": "bearer", "in": "header", "name": "Authorization",
                   "description": "A token from the server's operator, sent as `Authorization: Bearer TOKEN`"}),
        );
        accepted.push("bearer_sc");
    }
    if auth.has_passwords() {
        definitions.insert(
            "basic_sc".into(),
            json!({"scheme": "basic", "in": "header", "name": "Authorization",
                   "description": "A user name and password (HTTP Basic)"}),
        );
        accepted.push("basic_sc");
    }
    let security = match accepted.as_slice() {
        [one] => (*one).to_owned(),
        several => {
            definitions.insert("combo_sc".into(), json!({"scheme": "combo", "oneOf": several}));
            "combo_sc".to_owned()
        }
    };
    if auth.anonymous().is_some() {
        definitions.insert(
            "nosec_sc".into(),
            json!({"scheme": "nosec", "description": "Anyone may read and observe"}),
        );
        for form in td.forms_mut().filter(|form| form.only_reads()) {
            form.security = Some(OneOrMany::Many(vec!["nosec_sc".to_owned()]));
        }
    }
    td.security_definitions = definitions;
    td.security = OneOrMany::Many(vec![security]);
}

/// Declare `auth`'s schemes in an OpenAPI document: `securitySchemes`, the
/// document-wide requirement (either scheme), none on the public pages,
/// optional on reads when anonymous observers are allowed, and the 401 and
/// 403 answers on every operation that needs credentials.
pub(crate) fn secure_openapi(document: &mut Value, auth: &Authenticator, access: &AccessTable) {
    if !auth.enabled() {
        return;
    }
    let mut schemes = Map::new();
    let mut requirement = Vec::new();
    if auth.has_tokens() {
        schemes.insert(
            "bearer".into(),
            json!({"type": "http", "scheme": "bearer", "description": "A token from the server's operator"}),
        );
        requirement.push(json!({"bearer": []}));
    }
    if auth.has_passwords() {
        schemes.insert(
            "basic".into(),
            json!({"type": "http", "scheme": "basic", "description": "A user name and password"}),
        );
        requirement.push(json!({"basic": []}));
    }
    document["components"]["securitySchemes"] = schemes.into();
    document["security"] = requirement.clone().into();
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            let (Ok(method), Some(operation)) = (method.to_uppercase().parse::<Method>(), operation.as_object_mut())
            else {
                continue;
            };
            let needs = access.find(&method, path).map_or(Access::Operate, |(needs, _)| needs);
            if needs == Access::Public {
                operation.insert("security".into(), json!([]));
                continue;
            }
            if needs == Access::Observe && auth.anonymous().is_some() {
                let mut optional = vec![json!({})];
                optional.extend(requirement.iter().cloned());
                operation.insert("security".into(), optional.into());
            }
            let responses = operation.entry("responses").or_insert_with(|| json!({}));
            if let Some(responses) = responses.as_object_mut() {
                responses.entry("401").or_insert_with(|| {
                    json!({"description": "No valid credentials (see WWW-Authenticate)",
                           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Detail"}}}})
                });
                responses.entry("403").or_insert_with(|| {
                    json!({"description": "The user's role does not allow this, or a page from another origin may not do it",
                           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Detail"}}}})
                });
                responses.entry("429").or_insert_with(|| {
                    json!({"description": "Too many failed sign-ins from this address or for this user name (see Retry-After)",
                           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Detail"}}}})
                });
            }
        }
    }
}
