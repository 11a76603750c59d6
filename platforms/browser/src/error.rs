//! Errors thrown to JavaScript: real `TypeError` / `RangeError` / `Error`
//! objects with a message that says what to change.

use wasm_bindgen::JsValue;

/// A wrong type (a number where a string was expected, ...).
pub fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

/// A value of the right type outside what is accepted.
pub fn range_error(message: &str) -> JsValue {
    js_sys::RangeError::new(message).into()
}

/// Anything else.
pub fn error(message: &str) -> JsValue {
    js_sys::Error::new(message).into()
}
