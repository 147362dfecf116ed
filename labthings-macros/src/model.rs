//! What `#[thing]` understood of a struct or an impl block, checked. Code
//! generation reads only this.

use proc_macro2::Span;
use syn::{Attribute, Expr, Ident, Type, Visibility};

use crate::attr::{Constraints, LockArg, PropertyOptions};

/// A `#[thing]` struct: the Thing's name, title and field affordances.
pub(crate) struct StructModel {
    /// The struct's name.
    pub ident: Ident,
    /// The struct's visibility (its typed client's too).
    pub vis: Visibility,
    /// The struct's doc comment: the TD's title and description.
    pub docs: Option<String>,
    /// `#[property]` fields: data properties, in declaration order.
    pub properties: Vec<FieldProperty>,
    /// `#[slot]` fields, with the type of Thing each needs.
    pub slots: Vec<SlotField>,
    /// `#[stream]` fields.
    pub streams: Vec<Field>,
    /// `#[event]` fields, with the payload type.
    pub events: Vec<Field>,
}

/// A field carrying an affordance.
pub(crate) struct Field {
    /// The field.
    pub member: Ident,
    /// The affordance name (the field's name unless renamed).
    pub name: String,
    /// Where the name was written, for errors.
    pub name_span: Span,
    /// The field's doc comment.
    pub docs: Option<String>,
    /// The type inside the wrapper: the value of a `DataProperty<T>`, the
    /// Thing of a `ThingSlot<T>`, the payload of an `Event<T>`; `()` for a
    /// stream.
    pub inner: Type,
    /// The field's `#[cfg(..)]` attributes.
    pub cfgs: Vec<Attribute>,
}

/// A `#[slot]` field: a `ThingSlot<T>`, `OptionalSlot<T>` or
/// `ThingSlots<T>` (its `inner` is `T`).
pub(crate) struct SlotField {
    pub field: Field,
    /// The field's whole type (which says how many Things it takes).
    pub ty: Type,
    /// `#[slot(default = "name")]`.
    pub default: Option<syn::LitStr>,
}

/// A `#[property]` field: a `DataProperty<T>` that clients read, observe and
/// (unless `read_only`) write.
pub(crate) struct FieldProperty {
    pub field: Field,
    pub options: PropertyOptions,
}

/// A `#[thing]` impl block: the affordances on methods.
pub(crate) struct ImplModel {
    /// The type the impl block is for.
    pub self_ty: Type,
    /// Its last path segment, used to name generated types.
    pub type_ident: Ident,
    /// Computed properties in declaration order.
    pub properties: Vec<Property>,
    /// Actions in declaration order.
    pub actions: Vec<Action>,
    /// `#[endpoint]` methods in declaration order.
    pub endpoints: Vec<Endpoint>,
    /// The `#[on_start]` hook.
    pub on_start: Option<Hook>,
    /// The `#[on_stop]` hook.
    pub on_stop: Option<Hook>,
}

/// An `#[on_start]` or `#[on_stop]` method.
pub(crate) struct Hook {
    pub method: Ident,
    pub fallible: bool,
    /// An `async fn`: driven to its end where a blocking hook is called.
    pub is_async: bool,
}

/// A computed property: a getter method and maybe its `set_` method.
pub(crate) struct Property {
    /// The affordance name (the method name unless renamed).
    pub name: String,
    /// Where the name was written, for errors.
    pub name_span: Span,
    /// The getter method.
    pub getter: Ident,
    /// Whether the getter is an `async fn`.
    pub getter_async: bool,
    pub docs: Option<String>,
    pub value_ty: Type,
    pub fallible: bool,
    /// The `set_{getter}` method, when clients may write the property.
    pub setter: Option<Setter>,
    /// Whether the impl block has a `set_{getter}` method (a `read_only`
    /// property keeps it for device code only).
    pub has_set_method: bool,
    pub cfgs: Vec<Attribute>,
    /// The attribute's options.
    pub options: PropertyOptions,
}

/// The setter of a computed property: the method `set_{getter}`.
pub(crate) struct Setter {
    pub method: Ident,
    pub value_ty: Type,
    pub fallible: bool,
    /// Whether it is an `async fn`.
    pub is_async: bool,
}

/// An action method.
pub(crate) struct Action {
    /// The affordance name (the method name unless renamed).
    pub name: String,
    /// Where the name was written, for errors.
    pub name_span: Span,
    /// The method.
    pub method: Ident,
    pub vis: Visibility,
    pub docs: Option<String>,
    pub params: Vec<Param>,
    pub output: Output,
    pub retention_secs: Option<u64>,
    /// `log_level = ".."`: the least severe records its invocations keep.
    pub log_level: Option<syn::LitStr>,
    pub cfgs: Vec<Attribute>,
    pub lock: Option<LockArg>,
    pub reject_when_busy: bool,
    /// `approval`: calls by agents wait for an operator's approval.
    pub approval: bool,
    /// The type of its intermediate results: `T` of an
    /// `InvocationHandle<T>` parameter.
    pub intermediate: Option<Type>,
    /// An `async fn`: run as a task on the server's runtime.
    pub is_async: bool,
}

/// An `#[endpoint]` method: an extra resource answering raw bytes or typed
/// JSON.
pub(crate) struct Endpoint {
    /// Its name (the method name unless renamed): its URL's last segment.
    pub name: String,
    /// Where the name was written, for errors.
    pub name_span: Span,
    /// The method.
    pub method: Ident,
    pub vis: Visibility,
    pub docs: Option<String>,
    /// Its query parameters: only `Param::Input` (an endpoint is no
    /// invocation), without the body.
    pub params: Vec<Param>,
    /// Its `Json<T>` parameter, the request's body, if it takes one.
    pub body: Option<EndpointBody>,
    /// `get`, `post`, `put` or `delete`.
    pub request_method: String,
    /// The declared return type (checked to be `Raw`, `Json<T>` or a
    /// `Result` of either).
    pub output: Type,
    pub cfgs: Vec<Attribute>,
}

/// The `Json<T>` parameter of an endpoint: the request's body.
pub(crate) struct EndpointBody {
    /// Where it is among the method's parameters (after `&self`).
    pub position: usize,
    /// The `T`.
    pub ty: Type,
}

/// What a method returns.
pub(crate) enum Output {
    /// Nothing (`()`).
    Unit,
    /// A plain value of this type.
    Plain(Type),
    /// `Result<T, E>`: the `T`.
    Result(Type),
}

/// One parameter of an action method (after `&self`).
pub(crate) enum Param {
    /// Part of the input: becomes a field of the generated input struct.
    Input {
        name: Ident,
        ty: Box<Type>,
        default: Option<Box<Expr>>,
        constraints: Box<Constraints>,
    },
    /// A framework value handed in by the runtime (`CancelHook`, `InvocationHandle`).
    Injected { kind: Injected, by_ref: bool, span: Span },
}

/// The framework types that are injected rather than read from the input.
#[derive(Clone, Copy)]
pub(crate) enum Injected {
    CancelHook,
    InvocationHandle,
}
