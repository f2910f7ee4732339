//! OpenAPI path keys for axum routes. Axum captures the rest of a path with a wildcard
//! (`/promises/{*id}`); OpenAPI has no wildcard, so the document names the captured part as
//! ordinary parameters (`/promises/{id}`), whose descriptions say they may contain `/`.

use utoipa::openapi::OpenApi;
use utoipa::openapi::path::Paths;

/// Wildcards that stand for more than one OpenAPI parameter: the GET task forms capture
/// `<id>/<counter>` as `{*task}`.
const SPLIT_WILDCARDS: &[(&str, &str)] = &[("{*task}", "{id}/{counter}")];

/// The OpenAPI form of an axum path: each `{*name}` becomes `{name}` (or the parameters of
/// [`SPLIT_WILDCARDS`]).
pub fn openapi_path(axum_path: &str) -> String {
    let mut path = axum_path.to_owned();
    for (wildcard, parameters) in SPLIT_WILDCARDS {
        path = path.replace(wildcard, parameters);
    }
    path.replace("{*", "{")
}

/// Renames every path key of `doc` to its OpenAPI form (see [`openapi_path`]), merging the
/// operations of keys that become equal.
pub fn fix_path_keys(doc: &mut OpenApi) {
    let old = std::mem::take(&mut doc.paths.paths);
    let mut fixed = Paths::new();
    for (key, item) in old {
        let key = openapi_path(&key);
        match fixed.paths.get_mut(&key) {
            Some(existing) => existing.merge_operations(item),
            None => {
                fixed.paths.insert(key, item);
            }
        }
    }
    doc.paths.paths = fixed.paths;
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::{OpenApiBuilder, PathsBuilder};

    use super::*;

    #[test]
    fn wildcards_become_parameters() {
        assert_eq!(openapi_path("/promises/{*id}"), "/promises/{id}");
        assert_eq!(openapi_path("/promises/callback/{*id}"), "/promises/callback/{id}");
        assert_eq!(openapi_path("/tasks/claim/{*task}"), "/tasks/claim/{id}/{counter}");
        assert_eq!(openapi_path("/poll/{group}/{id}"), "/poll/{group}/{id}");
        assert_eq!(openapi_path("/promises"), "/promises");
    }

    #[test]
    fn the_document_keeps_every_operation_under_the_fixed_keys() {
        let get = PathItem::new(HttpMethod::Get, OperationBuilder::new().operation_id(Some("r")));
        let patch =
            PathItem::new(HttpMethod::Patch, OperationBuilder::new().operation_id(Some("c")));
        let list = PathItem::new(HttpMethod::Get, OperationBuilder::new().operation_id(Some("s")));
        let paths = PathsBuilder::new()
            .path("/promises/{*id}", get)
            .path("/promises/{id}", patch)
            .path("/promises", list)
            .build();
        let mut doc = OpenApiBuilder::new().paths(paths).build();
        fix_path_keys(&mut doc);
        let mut keys: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["/promises", "/promises/{id}"]);
        let item = &doc.paths.paths["/promises/{id}"];
        assert_eq!(item.get.as_ref().and_then(|o| o.operation_id.as_deref()), Some("r"));
        assert_eq!(item.patch.as_ref().and_then(|o| o.operation_id.as_deref()), Some("c"));
    }
}
