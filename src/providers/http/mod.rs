//! The `http` provider: `http_resource`, one object of any JSON REST API
//! (created with a request, read, updated and deleted at its own URL), and the
//! `http` data source, which GETs a URL and gives its JSON body as a value.
//!
//! Terminology: the *object URL* is `base_url` joined with `read_path`, in
//! which `{id}` stands for the object's id (the value at `id_path` in the
//! create response). The *watched fields* are `read_attributes` (top-level
//! names, or JSON pointers starting with `/`; by default the top-level keys of
//! the create body); `response` holds their values as the API last reported
//! them, which is what drift is measured on: the plan wants them equal to the
//! body's values, so a change made outside shows as `response` old → new.
//!
//! Choices: a change to the body or to `response` (drift) writes the object
//! with `update_method` at its URL; a change to anything else (headers,
//! timeout, paths) is recorded without a request. A change of `base_url`
//! replaces the object. The provider's default `headers` are only sent to
//! URLs under the provider's own `base_url`, never to other hosts.
//!
//! Invariant: no header value and no secret-marked string appears in an error
//! message (see [`client::Redactor`]); `headers` is sensitive, and a watched
//! field whose configured value is secret stays secret in `response`.

pub mod client;
#[cfg(test)]
mod tests;

use super::operation::Operation;
use super::provider::{
    Attributes, ObjectState, PlannedChange, Provider, ProviderError, conform_to_schema,
    plan_from_schema, same_ignoring_marks,
};
use super::schema::{ResourceSchema, attribute};
use crate::host::Host;
use crate::lang::{Kind, Type, Value};
use async_trait::async_trait;
use client::{Call, Redactor, Reply};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The provider's name.
pub const NAME: &str = "http";

/// The `http_resource` type name.
pub const HTTP_RESOURCE: &str = "http_resource";

/// The `http` data source type name.
pub const HTTP_DATA: &str = "http";

/// The timeout of one request when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The settings a `provider "http"` block may have.
const PROVIDER_SETTINGS: [&str; 4] = ["base_url", "headers", "ca_cert", "timeout"];

fn create_type() -> Type {
    Type::Object(BTreeMap::from([
        (String::from("method"), (Type::String, true)),
        (String::from("path"), (Type::String, false)),
        (String::from("body"), (Type::Any, true)),
    ]))
}

/// The schema of `http_resource`.
pub fn resource_schema() -> ResourceSchema {
    ResourceSchema {
        resource_type: HTTP_RESOURCE,
        provider: NAME,
        description: "An object of a JSON REST API, managed through its URLs.",
        attributes: vec![
            attribute("base_url", Type::String).describe(
                "The API's root URL, e.g. \"https://api.example.com/v1\"; the provider's when unset. \
                 A change replaces the object.",
            ),
            attribute("create", create_type()).required().describe(
                "How to create it: { method = \"POST\" (default), path = \"/items\", body = { ... } }; \
                 the body is sent as JSON, and again on update.",
            ),
            attribute("read_path", Type::String).describe(
                "The object's path, `{id}` standing for its id; default: create.path + \"/{id}\".",
            ),
            attribute("update_method", Type::String)
                .describe("PUT (default) or PATCH: how the body is sent to the object's path."),
            attribute("delete_path", Type::String)
                .describe("The path a DELETE goes to; default: read_path."),
            attribute("id_path", Type::String).describe(
                "A JSON pointer to the id in the create response; default \"/id\".",
            ),
            attribute("headers", Type::Map(Box::new(Type::String)))
                .sensitive()
                .describe(
                    "Request headers (e.g. Authorization), added to the provider's; never shown.",
                ),
            attribute("expected_status", Type::List(Box::new(Type::Number))).describe(
                "The status codes that mean success for create, update and delete; default any 2xx.",
            ),
            attribute("timeout", Type::Number)
                .describe("Seconds one request may take; default the provider's, or 30."),
            attribute("read_attributes", Type::List(Box::new(Type::String))).describe(
                "The response fields compared for drift (names or JSON pointers); default the body's keys.",
            ),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(RESPONSE_INPUTS)
                .describe("The object's id, from id_path in the create response."),
            attribute("response", Type::Any)
                .computed_only()
                .derived_from(RESPONSE_INPUTS)
                .describe(
                "The watched fields as the API last reported them, by name.",
            ),
        ],
    }
}

/// What an `http_resource`'s response (and the id read from it) is derived
/// from: the request's URL and body and how the response is read. Not the
/// headers: a secret token that authorises a request does not make the API's
/// answer a secret (a response that echoes it is sealed all the same, see
/// `providers::provider::seal_returned`).
const RESPONSE_INPUTS: &[&str] = &[
    "base_url",
    "create",
    "read_path",
    "id_path",
    "read_attributes",
];

/// The schema of the `http` data source.
pub fn data_schema() -> ResourceSchema {
    ResourceSchema {
        resource_type: HTTP_DATA,
        provider: NAME,
        description: "GETs a URL; its JSON body is `body`.",
        attributes: vec![
            attribute("url", Type::String)
                .required()
                .describe("The URL, or a path (starting with /) under the provider's base_url."),
            attribute("headers", Type::Map(Box::new(Type::String)))
                .sensitive()
                .describe("Request headers; never shown."),
            attribute("timeout", Type::Number).describe("Seconds the request may take."),
            attribute("body", Type::Any)
                .computed_only()
                .derived_from(&["url"])
                .describe("The response body, parsed as JSON."),
            attribute("status_code", Type::Number)
                .computed_only()
                .derived_from(&["url"])
                .describe("The response status."),
            attribute("id", Type::String)
                .computed_only()
                .derived_from(&["url"])
                .describe("The URL read."),
        ],
    }
}

/// What a `provider "http"` block set.
#[derive(Clone, Default)]
struct Settings {
    base_url: Option<String>,
    headers: BTreeMap<String, String>,
    timeout: Option<Duration>,
    client: Option<reqwest::Client>,
    client_error: Option<String>,
}

/// The `http` provider.
pub struct HttpProvider {
    host: Arc<dyn Host>,
    base_dir: PathBuf,
    schemas: Vec<ResourceSchema>,
    settings: RwLock<Settings>,
}

impl std::fmt::Debug for HttpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProvider")
            .field("base_dir", &self.base_dir)
            .finish_non_exhaustive()
    }
}

/// An `http_resource`'s configuration, resolved for requests.
struct Resource {
    base_url: String,
    create_method: reqwest::Method,
    /// `None` for an imported object whose configuration is not recorded yet.
    create_path: Option<String>,
    /// The body as configured (marks kept), `null` when none.
    body: Value,
    read_path: String,
    update_method: reqwest::Method,
    delete_path: String,
    id_path: String,
    headers: BTreeMap<String, String>,
    expected_status: Option<Vec<u16>>,
    timeout: Duration,
    read_attributes: Vec<String>,
    redactor: Redactor,
}

impl Resource {
    fn url(&self, path: &str, id: Option<&str>) -> String {
        let path = match id {
            Some(id) => path.replace("{id}", &percent_encode(id)),
            None => path.to_owned(),
        };
        join_url(&self.base_url, &path)
    }

    fn call(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<serde_json::Value>,
        doing: &'static str,
    ) -> Call<'_> {
        Call {
            method,
            url,
            headers: &self.headers,
            body,
            timeout: self.timeout,
            doing,
            redactor: &self.redactor,
        }
    }

    fn accepted(&self, status: u16) -> bool {
        match &self.expected_status {
            Some(codes) => codes.contains(&status),
            None => (200..300).contains(&status),
        }
    }

    /// The body to send, plaintext.
    fn body_json(&self) -> Option<serde_json::Value> {
        (!self.body.is_null()).then(|| self.body.to_json_revealed())
    }

    /// The watched fields of a response, secret where the configured value
    /// is secret or the text holds a secret.
    fn project(&self, json: &serde_json::Value) -> Value {
        let entries = self
            .read_attributes
            .iter()
            .map(|field| {
                let found = lookup_json(json, field).map_or(Value::NULL, Value::from_json);
                let secret = lookup_value(&self.body, field).is_some_and(Value::contains_secret)
                    || self.redactor.reveals(&found.to_json_revealed().to_string());
                (field.clone(), found.mark_secret_if(secret))
            })
            .collect();
        Value::map(entries)
    }
}

impl HttpProvider {
    /// A provider; `ca_cert` paths are relative to `base_dir`, the stack folder.
    pub fn new(host: Arc<dyn Host>, base_dir: PathBuf) -> Self {
        let mut settings = Settings::default();
        match client::build_client(None) {
            Ok(client) => settings.client = Some(client),
            Err(error) => settings.client_error = Some(error),
        }
        HttpProvider {
            host,
            base_dir,
            schemas: vec![resource_schema(), data_schema()],
            settings: RwLock::new(settings),
        }
    }

    fn settings(&self) -> Settings {
        match self.settings.read() {
            Ok(settings) => settings.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn client(&self) -> Result<reqwest::Client, ProviderError> {
        let settings = self.settings();
        match (settings.client, settings.client_error) {
            (Some(client), _) => Ok(client),
            (None, error) => {
                Err(ProviderError::permanent(error.unwrap_or_else(|| {
                    String::from("the HTTP client is not set up")
                })))
            }
        }
    }

    fn check_type<'a>(&'a self, resource_type: &str) -> Result<&'a ResourceSchema, ProviderError> {
        self.schema(resource_type)
            .ok_or_else(|| ProviderError::unknown_resource_type(NAME, resource_type))
    }

    /// The headers for a URL: the provider's defaults when the URL is under
    /// its base_url, then `own` on top.
    fn headers_for(
        &self,
        settings: &Settings,
        url_base: &str,
        own: &Value,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        let mut headers = BTreeMap::new();
        if let Some(base) = &settings.base_url
            && under(url_base, base)
        {
            headers.extend(settings.headers.clone());
        }
        headers.extend(string_map(own, "headers")?);
        Ok(headers)
    }

    fn redactor(
        settings: &Settings,
        headers: &BTreeMap<String, String>,
        attributes: &Attributes,
    ) -> Redactor {
        let mut redactor = Redactor::default();
        for value in settings.headers.values().chain(headers.values()) {
            redactor.add(value);
        }
        for value in attributes.values() {
            redactor.add_secrets_in(value);
        }
        redactor
    }

    /// Resolves an `http_resource` configuration; `id` is known after create.
    fn resource(&self, attributes: &Attributes) -> Result<Resource, ProviderError> {
        let settings = self.settings();
        let get = |name: &str| attributes.get(name).cloned().unwrap_or(Value::NULL);
        let base_url = match optional_string(&get("base_url"), "base_url")? {
            Some(url) => url,
            None => settings.base_url.clone().ok_or_else(|| {
                ProviderError::permanent(
                    "no `base_url`: set it here or in the `provider \"http\"` block",
                )
                .at(["base_url"])
            })?,
        };
        check_url(&base_url).map_err(|m| ProviderError::permanent(m).at(["base_url"]))?;
        let create = get("create");
        let create_map = create.as_map().cloned().unwrap_or_default();
        let create_field = |name: &str| create_map.get(name).cloned().unwrap_or(Value::NULL);
        let create_method = match optional_string(&create_field("method"), "create")? {
            Some(method) => parse_method(&method).ok_or_else(|| {
                ProviderError::permanent(format!(
                    "`create.method` must be an HTTP method like POST or PUT, not `{method}`"
                ))
                .at(["create"])
            })?,
            None => reqwest::Method::POST,
        };
        let create_path = optional_string(&create_field("path"), "create")?;
        if let Some(path) = &create_path {
            check_path(path, "create.path").map_err(|e| e.at(["create"]))?;
        }
        let body = create_field("body");
        let read_path = match (
            optional_string(&get("read_path"), "read_path")?,
            &create_path,
        ) {
            (Some(path), _) => {
                check_path(&path, "read_path").map_err(|e| e.at(["read_path"]))?;
                path
            }
            (None, Some(create_path)) => format!("{}/{{id}}", create_path.trim_end_matches('/')),
            (None, None) => {
                return Err(ProviderError::permanent("`create.path` is required").at(["create"]));
            }
        };
        let update_method = match optional_string(&get("update_method"), "update_method")? {
            None => reqwest::Method::PUT,
            Some(method) => match method.to_ascii_uppercase().as_str() {
                "PUT" => reqwest::Method::PUT,
                "PATCH" => reqwest::Method::PATCH,
                _ => {
                    return Err(ProviderError::permanent(format!(
                        "`update_method` must be PUT or PATCH, not `{method}`"
                    ))
                    .at(["update_method"]));
                }
            },
        };
        let delete_path = match optional_string(&get("delete_path"), "delete_path")? {
            Some(path) => {
                check_path(&path, "delete_path").map_err(|e| e.at(["delete_path"]))?;
                path
            }
            None => read_path.clone(),
        };
        let id_path = optional_string(&get("id_path"), "id_path")?.unwrap_or_else(|| "/id".into());
        if !id_path.is_empty() && !id_path.starts_with('/') {
            return Err(ProviderError::permanent(format!(
                "`id_path` is a JSON pointer and starts with `/` (like \"/id\" or \"/data/id\"), not `{id_path}`"
            ))
            .at(["id_path"]));
        }
        let expected_status = match get("expected_status").as_list() {
            None => None,
            Some(items) => Some(
                items
                    .iter()
                    .map(|item| {
                        item.as_number()
                            .and_then(|n| n.as_i64())
                            .and_then(|n| u16::try_from(n).ok())
                            .filter(|n| (100..600).contains(n))
                            .ok_or_else(|| {
                                ProviderError::permanent(
                                    "`expected_status` holds HTTP status codes (100 to 599)",
                                )
                                .at(["expected_status"])
                            })
                    })
                    .collect::<Result<Vec<u16>, _>>()?,
            ),
        };
        let timeout = match timeout_of(&get("timeout"), "timeout")? {
            Some(timeout) => timeout,
            None => settings.timeout.unwrap_or(DEFAULT_TIMEOUT),
        };
        let read_attributes = match get("read_attributes").as_list() {
            Some(items) => items
                .iter()
                .map(|item| {
                    item.as_str().map(str::to_owned).ok_or_else(|| {
                        ProviderError::permanent("`read_attributes` holds field names")
                            .at(["read_attributes"])
                    })
                })
                .collect::<Result<Vec<String>, _>>()?,
            None => body
                .as_map()
                .map(|entries| entries.keys().cloned().collect())
                .unwrap_or_default(),
        };
        let headers = self.headers_for(&settings, &base_url, &get("headers"))?;
        let redactor = Self::redactor(&settings, &headers, attributes);
        Ok(Resource {
            base_url,
            create_method,
            create_path,
            body,
            read_path,
            update_method,
            delete_path,
            id_path,
            headers,
            expected_status,
            timeout,
            read_attributes,
            redactor,
        })
    }

    /// The object from its attributes, an id and the watched fields.
    fn object(&self, attributes: &Attributes, id: &str, response: Value) -> ObjectState {
        let mut values = attributes.clone();
        values.insert(String::from("id"), Value::string(id));
        values.insert(String::from("response"), response);
        let schema = resource_schema();
        ObjectState {
            id: id.to_owned(),
            attributes: conform_to_schema(&schema, &values),
        }
    }

    /// GETs the object: `Ok(None)` on 404 or 410.
    async fn get(
        &self,
        resource: &Resource,
        id: &str,
        doing: &'static str,
    ) -> Result<Option<serde_json::Value>, ProviderError> {
        let client = self.client()?;
        let call = resource.call(
            reqwest::Method::GET,
            resource.url(&resource.read_path, Some(id)),
            None,
            doing,
        );
        let reply = client::send(&client, &call).await?;
        if reply.status == 404 || reply.status == 410 {
            return Ok(None);
        }
        if !(200..300).contains(&reply.status) {
            return Err(reply.status_error(&call).at(["read_path"]));
        }
        reply.json(&call).map(Some).map_err(|e| e.at(["read_path"]))
    }

    /// The watched fields after a write: from the write's response when it
    /// has them all, else from a GET.
    async fn after_write(
        &self,
        resource: &Resource,
        id: &str,
        reply_json: Option<&serde_json::Value>,
    ) -> Result<Value, ProviderError> {
        if let Some(json) = reply_json
            && resource
                .read_attributes
                .iter()
                .all(|field| lookup_json(json, field).is_some())
        {
            return Ok(resource.project(json));
        }
        match self.get(resource, id, "read").await? {
            Some(json) => Ok(resource.project(&json)),
            None => Err(ProviderError::not_found(format!(
                "the object `{id}` was written but is gone when read back"
            ))),
        }
    }

    async fn read_data(&self, prior: &ObjectState) -> Result<Option<ObjectState>, ProviderError> {
        let settings = self.settings();
        let attributes = &prior.attributes;
        let url_value = prior.attribute("url");
        let Some(url) = url_value.as_str() else {
            return Err(ProviderError::permanent("`url` is required").at(["url"]));
        };
        let url = if url.starts_with('/') {
            match &settings.base_url {
                Some(base) => join_url(base, url),
                None => {
                    return Err(ProviderError::permanent(
                        "`url` is a path, but the `provider \"http\"` block sets no base_url",
                    )
                    .at(["url"]));
                }
            }
        } else {
            url.to_owned()
        };
        check_url(&url).map_err(|m| ProviderError::permanent(m).at(["url"]))?;
        let headers = self.headers_for(&settings, &url, prior.attribute("headers"))?;
        let redactor = Self::redactor(&settings, &headers, attributes);
        let timeout = timeout_of(prior.attribute("timeout"), "timeout")?
            .or(settings.timeout)
            .unwrap_or(DEFAULT_TIMEOUT);
        let call = Call {
            method: reqwest::Method::GET,
            url: url.clone(),
            headers: &headers,
            body: None,
            timeout,
            doing: "read",
            redactor: &redactor,
        };
        let reply: Reply = client::send(&self.client()?, &call)
            .await
            .map_err(|e| e.at(["url"]))?;
        if !(200..300).contains(&reply.status) {
            let error = reply.status_error(&call);
            // For a data source, not found is an error like any other.
            let error = if reply.status == 404 || reply.status == 410 {
                ProviderError::permanent(error.message)
            } else {
                error
            };
            return Err(error.at(["url"]));
        }
        let json = reply.json(&call).map_err(|e| e.at(["url"]))?;
        let body = Value::from_json(&json);
        let secret = redactor.reveals(&json.to_string());
        let mut values = attributes.clone();
        values.insert(String::from("body"), body.mark_secret_if(secret));
        values.insert(
            String::from("status_code"),
            Value::number(i64::from(reply.status)),
        );
        values.insert(String::from("id"), Value::string(url.clone()));
        Ok(Some(ObjectState {
            id: url,
            attributes: conform_to_schema(&data_schema(), &values),
        }))
    }
}

#[async_trait]
impl Provider for HttpProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn resource_schemas(&self) -> &[ResourceSchema] {
        &self.schemas
    }

    async fn configure(&self, config: &Attributes) -> Result<(), ProviderError> {
        for name in config.keys() {
            if !PROVIDER_SETTINGS.contains(&name.as_str()) {
                return Err(ProviderError::permanent(format!(
                    "provider `http` has no setting `{name}` (it has {})",
                    PROVIDER_SETTINGS.join(", ")
                ))
                .at([name.as_str()]));
            }
        }
        let get = |name: &str| config.get(name).cloned().unwrap_or(Value::NULL);
        let base_url = optional_string(&get("base_url"), "base_url")?;
        if let Some(url) = &base_url {
            check_url(url).map_err(|m| ProviderError::permanent(m).at(["base_url"]))?;
        }
        let headers = string_map(&get("headers"), "headers")?;
        let timeout = timeout_of(&get("timeout"), "timeout")?;
        let ca_cert = match optional_string(&get("ca_cert"), "ca_cert")? {
            None => None,
            Some(path) => {
                let full = if Path::new(&path).is_absolute() {
                    PathBuf::from(&path)
                } else {
                    self.base_dir.join(&path)
                };
                Some(self.host.read(&full).map_err(|error| {
                    ProviderError::permanent(format!(
                        "could not read `ca_cert` {}: {error}",
                        full.display()
                    ))
                    .at(["ca_cert"])
                })?)
            }
        };
        let client = client::build_client(ca_cert.as_deref())
            .map_err(|message| ProviderError::permanent(message).at(["ca_cert"]))?;
        let settings = Settings {
            base_url,
            headers,
            timeout,
            client: Some(client),
            client_error: None,
        };
        match self.settings.write() {
            Ok(mut slot) => *slot = settings,
            Err(poisoned) => *poisoned.into_inner() = settings,
        }
        Ok(())
    }

    async fn plan_change(
        &self,
        resource_type: &str,
        prior: Option<&ObjectState>,
        proposed: &Attributes,
    ) -> Result<PlannedChange, ProviderError> {
        let schema = self.check_type(resource_type)?;
        let mut change = plan_from_schema(schema, prior, proposed);
        if resource_type == HTTP_DATA {
            return Ok(change);
        }
        // A change of the API's URL (set here, or the provider's) replaces the object.
        if let Some(prior) = prior {
            let provider_base = self.settings().base_url;
            let effective = |value: &Value| match value.kind() {
                Kind::Null => provider_base
                    .clone()
                    .map(|b| b.trim_end_matches('/').to_owned()),
                _ => value.as_str().map(|b| b.trim_end_matches('/').to_owned()),
            };
            let before = effective(prior.attribute("base_url"));
            let after_value = change.planned.get("base_url").unwrap_or(&Value::NULL);
            if after_value.contains_unknown() || before != effective(after_value) {
                change.requires_replace.push(vec![String::from("base_url")]);
            }
        }
        // Checks the settings (methods, paths, pointers) once they are known;
        // the body may wait for values known after apply.
        let mut settings_only = change.planned.clone();
        settings_only.remove("id");
        settings_only.remove("response");
        if let Some(create) = settings_only.get("create").and_then(Value::as_map) {
            let mut create = create.clone();
            create.remove("body");
            settings_only.insert(String::from("create"), Value::map(create));
        }
        if !settings_only.values().any(Value::contains_unknown) {
            self.resource(&change.planned)?;
        }
        let kept = prior.filter(|_| change.requires_replace.is_empty());
        let response = planned_response(&change.planned, kept);
        change.planned.insert(String::from("response"), response);
        Ok(change)
    }

    async fn create(
        &self,
        _op: &Operation,
        resource_type: &str,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        self.check_type(resource_type)?;
        if resource_type == HTTP_DATA {
            return Err(ProviderError::permanent(
                "the `http` data source is only read",
            ));
        }
        let resource = self.resource(planned)?;
        let Some(create_path) = &resource.create_path else {
            return Err(ProviderError::permanent("`create.path` is required").at(["create"]));
        };
        let client = self.client()?;
        let call = resource.call(
            resource.create_method.clone(),
            resource.url(create_path, None),
            resource.body_json(),
            "create",
        );
        let reply = client::send(&client, &call).await?;
        if !resource.accepted(reply.status) {
            let error = reply.status_error(&call);
            let error = if error.is_transient() {
                error
            } else {
                ProviderError::permanent(error.message)
            };
            return Err(error.at(["create"]));
        }
        let json = reply.json(&call).map_err(|e| {
            ProviderError::permanent(format!(
                "{}; the object may have been created, and infra does not know its id: \
                 check the API, then `import` it",
                e.message
            ))
            .at(["create"])
        })?;
        let id = id_at(&json, &resource.id_path).ok_or_else(|| {
            ProviderError::permanent(resource.redactor.redact(&format!(
                "the create response has no string or number at `{}` (id_path); the object \
                 may have been created, and infra does not know its id: check the API, then \
                 `import` it. The response starts with: {}",
                resource.id_path,
                clip_json(&json)
            )))
            .at(["id_path"])
        })?;
        let response = self.after_write(&resource, &id, Some(&json)).await?;
        Ok(self.object(planned, &id, response))
    }

    async fn read(
        &self,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<Option<ObjectState>, ProviderError> {
        self.check_type(resource_type)?;
        if resource_type == HTTP_DATA {
            return self.read_data(prior).await;
        }
        let resource = self.resource(&prior.attributes)?;
        match self.get(&resource, &prior.id, "read").await? {
            None => Ok(None),
            Some(json) => {
                // An imported object not yet configured keeps every field.
                let response = if prior.attribute("create").is_null() {
                    whole_response(&json, &resource.redactor)
                } else {
                    resource.project(&json)
                };
                Ok(Some(self.object(&prior.attributes, &prior.id, response)))
            }
        }
    }

    async fn update(
        &self,
        _op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
        planned: &Attributes,
    ) -> Result<ObjectState, ProviderError> {
        self.check_type(resource_type)?;
        let resource = self.resource(planned)?;
        let wanted = planned_response(planned, Some(prior));
        let before = restrict(prior.attribute("response"), &resource.read_attributes);
        let prior_body = prior
            .attribute("create")
            .as_map()
            .and_then(|create| create.get("body"))
            .cloned()
            .unwrap_or(Value::NULL);
        let body_changed = !prior.attribute("create").is_null()
            && !same_ignoring_marks(&prior_body, &resource.body);
        let drifted = !same_ignoring_marks(&before, &wanted);
        if !body_changed && !drifted {
            // Only settings changed: nothing to send.
            return Ok(self.object(planned, &prior.id, before));
        }
        let client = self.client()?;
        let call = resource.call(
            resource.update_method.clone(),
            resource.url(&resource.read_path, Some(&prior.id)),
            resource.body_json(),
            "update",
        );
        let reply = client::send(&client, &call).await?;
        if reply.status == 404 || reply.status == 410 {
            return Err(reply.status_error(&call));
        }
        if !resource.accepted(reply.status) {
            return Err(reply.status_error(&call).at(["create"]));
        }
        let json = reply.json(&call).ok();
        let response = self
            .after_write(&resource, &prior.id, json.as_ref())
            .await?;
        Ok(self.object(planned, &prior.id, response))
    }

    async fn delete(
        &self,
        _op: &Operation,
        resource_type: &str,
        prior: &ObjectState,
    ) -> Result<(), ProviderError> {
        self.check_type(resource_type)?;
        if resource_type == HTTP_DATA {
            return Ok(());
        }
        let resource = self.resource(&prior.attributes)?;
        let client = self.client()?;
        let call = resource.call(
            reqwest::Method::DELETE,
            resource.url(&resource.delete_path, Some(&prior.id)),
            None,
            "delete",
        );
        let reply = client::send(&client, &call).await?;
        if reply.status == 404 || reply.status == 410 || resource.accepted(reply.status) {
            return Ok(());
        }
        Err(reply.status_error(&call).at(["delete_path"]))
    }

    async fn import(&self, resource_type: &str, id: &str) -> Result<ObjectState, ProviderError> {
        self.check_type(resource_type)?;
        if resource_type == HTTP_DATA {
            return Err(ProviderError::permanent(
                "the `http` data source cannot be imported",
            ));
        }
        let settings = self.settings();
        let url = if id.starts_with("http://") || id.starts_with("https://") {
            id.to_owned()
        } else if id.starts_with('/') {
            match &settings.base_url {
                Some(base) => join_url(base, id),
                None => {
                    return Err(ProviderError::permanent(format!(
                        "the import id `{id}` is a path, but the `provider \"http\"` block sets no \
                         base_url; give the object's full URL"
                    )));
                }
            }
        } else {
            return Err(ProviderError::permanent(format!(
                "an `http_resource` is imported by its URL (\"https://api.example.com/items/42\") \
                 or, with the provider's base_url set, its path (\"/items/42\"), not `{id}`"
            )));
        };
        check_url(&url).map_err(ProviderError::permanent)?;
        let object_id = url
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .map(percent_decode)
            .filter(|segment| !segment.is_empty())
            .ok_or_else(|| {
                ProviderError::permanent(format!(
                    "the import URL `{url}` has no last segment to use as the id"
                ))
            })?;
        let headers = self.headers_for(&settings, &url, &Value::NULL)?;
        let redactor = Self::redactor(&settings, &headers, &Attributes::new());
        let call = Call {
            method: reqwest::Method::GET,
            url: url.clone(),
            headers: &headers,
            body: None,
            timeout: settings.timeout.unwrap_or(DEFAULT_TIMEOUT),
            doing: "import",
            redactor: &redactor,
        };
        let reply = client::send(&self.client()?, &call).await?;
        if !(200..300).contains(&reply.status) {
            return Err(reply.status_error(&call));
        }
        let json = reply.json(&call)?;
        let response = whole_response(&json, &redactor);
        // Records where it lives, so it can be read before its configuration is.
        let path_part = url
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .trim_end_matches('/');
        let base = match &settings.base_url {
            Some(base) if under(&url, base) => base.trim_end_matches('/').to_owned(),
            _ => reqwest::Url::parse(&url)
                .map(|parsed| parsed.origin().ascii_serialization())
                .unwrap_or_default(),
        };
        let read_path = path_part
            .strip_prefix(base.as_str())
            .and_then(|rest| rest.rsplit_once('/'))
            .map(|(collection, _)| format!("{collection}/{{id}}"))
            .unwrap_or_else(|| String::from("/{id}"));
        let mut attributes = Attributes::new();
        attributes.insert(String::from("base_url"), Value::string(base));
        attributes.insert(String::from("read_path"), Value::string(read_path));
        Ok(self.object(&attributes, &object_id, response))
    }
}

/// Every top-level field of a response, as the watched fields of an
/// imported object (whose `read_attributes` are not known yet).
fn whole_response(json: &serde_json::Value, redactor: &Redactor) -> Value {
    let value = Value::from_json(json);
    let secret = redactor.reveals(&json.to_string());
    value.mark_secret_if(secret)
}

/// What `response` will be after the change: the body's value for each
/// watched field the body sets; for the others, the prior value when the
/// object is kept, else unknown.
fn planned_response(planned: &Attributes, kept: Option<&ObjectState>) -> Value {
    let create = planned.get("create").unwrap_or(&Value::NULL);
    let read_attributes = planned.get("read_attributes").unwrap_or(&Value::NULL);
    let body = create
        .as_map()
        .and_then(|create| create.get("body"))
        .cloned()
        .unwrap_or(Value::NULL);
    // Unknown as a whole when the list of fields is not known yet.
    let fields_unknown = match read_attributes.as_list() {
        Some(items) => items.iter().any(Value::is_unknown),
        None => read_attributes.is_unknown() || (read_attributes.is_null() && body.is_unknown()),
    };
    if create.is_unknown() || fields_unknown {
        return Value::UNKNOWN;
    }
    let fields: Vec<String> = match read_attributes.as_list() {
        Some(items) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        None => body
            .as_map()
            .map(|entries| entries.keys().cloned().collect())
            .unwrap_or_default(),
    };
    let prior_response = kept.map(|prior| prior.attribute("response"));
    let entries = fields
        .into_iter()
        .map(|field| {
            let value = match lookup_value(&body, &field) {
                Some(value) => value.clone(),
                None => prior_response
                    .and_then(Value::as_map)
                    .and_then(|entries| entries.get(&field))
                    .cloned()
                    .unwrap_or(Value::UNKNOWN),
            };
            (field, value)
        })
        .collect();
    Value::map(entries)
}

/// The response map cut to the watched fields (absent ones `null`).
fn restrict(response: &Value, fields: &[String]) -> Value {
    let entries = fields
        .iter()
        .map(|field| {
            let value = response
                .as_map()
                .and_then(|entries| entries.get(field))
                .cloned()
                .or_else(|| {
                    // An imported object recorded every field by its top-level name.
                    lookup_value(response, field).cloned()
                })
                .unwrap_or(Value::NULL);
            (field.clone(), value)
        })
        .collect();
    Value::map(entries)
}

/// A field of a JSON response: a top-level name, or a JSON pointer.
fn lookup_json<'a>(json: &'a serde_json::Value, field: &str) -> Option<&'a serde_json::Value> {
    if field.starts_with('/') {
        json.pointer(field)
    } else {
        json.get(field)
    }
}

/// The same lookup in a language value (the configured body).
fn lookup_value<'a>(value: &'a Value, field: &str) -> Option<&'a Value> {
    if !field.starts_with('/') {
        return value.as_map().and_then(|entries| entries.get(field));
    }
    field
        .split('/')
        .skip(1)
        .map(|token| token.replace("~1", "/").replace("~0", "~"))
        .try_fold(value, |current, token| match current.kind() {
            Kind::Map(entries) => entries.get(&token),
            Kind::List(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

/// The id at a JSON pointer: a string, or a number as text.
fn id_at(json: &serde_json::Value, pointer: &str) -> Option<String> {
    match json.pointer(pointer)? {
        serde_json::Value::String(text) if !text.trim().is_empty() => Some(text.clone()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn clip_json(json: &serde_json::Value) -> String {
    let text = json.to_string();
    if text.chars().count() <= 200 {
        format!("`{text}`")
    } else {
        format!("`{}…`", text.chars().take(200).collect::<String>())
    }
}

fn optional_string(value: &Value, name: &str) -> Result<Option<String>, ProviderError> {
    match value.kind() {
        Kind::Null => Ok(None),
        Kind::String(text) => Ok(Some(text.clone())),
        Kind::Unknown => Err(ProviderError::permanent(format!(
            "`{name}` is not known yet; it must be known before the request is made"
        ))
        .at([name])),
        _ => Err(ProviderError::permanent(format!(
            "`{name}` must be a string, not a {}",
            value.type_name()
        ))
        .at([name])),
    }
}

/// A map of strings (headers), plaintext; never echoes a value.
fn string_map(value: &Value, name: &str) -> Result<BTreeMap<String, String>, ProviderError> {
    if value.is_null() {
        return Ok(BTreeMap::new());
    }
    let Some(entries) = value.as_map() else {
        return Err(
            ProviderError::permanent(format!("`{name}` must be a map of strings")).at([name]),
        );
    };
    entries
        .iter()
        .map(|(key, item)| match item.as_str() {
            Some(text) => {
                let valid = reqwest::header::HeaderName::from_bytes(key.as_bytes()).is_ok()
                    && reqwest::header::HeaderValue::from_str(text).is_ok();
                if valid {
                    Ok((key.clone(), text.to_owned()))
                } else {
                    Err(ProviderError::permanent(format!(
                        "`{name}.{key}` is not a valid HTTP header (name or value has characters \
                         a header cannot carry)"
                    ))
                    .at([name, key.as_str()]))
                }
            }
            None => Err(ProviderError::permanent(format!(
                "`{name}.{key}` must be a string (known before the request)"
            ))
            .at([name, key.as_str()])),
        })
        .collect()
}

fn timeout_of(value: &Value, name: &str) -> Result<Option<Duration>, ProviderError> {
    if value.is_null() {
        return Ok(None);
    }
    value
        .as_number()
        .map(|n| n.as_f64())
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0 && *seconds <= 3600.0)
        .map(|seconds| Some(Duration::from_secs_f64(seconds)))
        .ok_or_else(|| {
            ProviderError::permanent(format!(
                "`{name}` is a number of seconds, above 0 and at most 3600"
            ))
            .at([name])
        })
}

fn parse_method(text: &str) -> Option<reqwest::Method> {
    let upper = text.to_ascii_uppercase();
    ["POST", "PUT", "PATCH", "GET", "DELETE"]
        .contains(&upper.as_str())
        .then(|| reqwest::Method::from_bytes(upper.as_bytes()).ok())
        .flatten()
}

fn check_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(())
        }
        Ok(_) => Err(format!("`{url}` is not an http:// or https:// URL")),
        Err(error) => Err(format!("`{url}` is not a URL: {error}")),
    }
}

fn check_path(path: &str, name: &str) -> Result<(), ProviderError> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(ProviderError::permanent(format!(
            "`{name}` is a path under base_url and starts with `/`, not `{path}`"
        )))
    }
}

/// `base` + `path`, with exactly one `/` between.
fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Whether `url` is `base` or under it.
fn under(url: &str, base: &str) -> bool {
    let base = base.trim_end_matches('/');
    url == base
        || url
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with(['/', '?', '#']))
}

/// Percent-encodes everything but unreserved characters, for an id in a path.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
