//! The two data forms of XEP-0357: the notification summary (`urn:xmpp:push:summary`) and the
//! publish options that carry the app server's credentials.
//!
//! Both are read with xmpp-parsers' [`DataForm`], after two leniencies real peers need:
//! - **A form without `type`** (every form in XEP-0357's own examples, both versions, and in
//!   the publish-options of §7) is read as `type='submit'`, the XEP-0004 type of a form that
//!   carries data; the summary remembers that it had none, so it is written back the same way.
//! - **`FORM_TYPE` is found by its `var`**, whatever its field type: xmpp-parsers only honours
//!   a hidden one in `form`/`result` forms (XEP-0068), and the XEP examples give it no type.

use std::fmt;

use jid::Jid;
use minidom::Element;
use minidom::rxml::xml_ncname;
use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType};

use crate::error::ParseError;
use crate::ns;
use crate::xml::{self, escape_text};

/// Reads `<x xmlns='jabber:x:data'/>` with the leniencies of the module docs. Returns the form
/// and the `type` it carried (`None`: no attribute).
pub(crate) fn read_form(el: &Element) -> Result<(DataForm, Option<DataFormType>), ParseError> {
    if !el.is("x", ns::DATA_FORMS) {
        return Err(ParseError::Mismatch { expected: "x" });
    }
    let declared = match el.attr("type") {
        None => None,
        Some(t) => Some(
            t.parse::<DataFormType>()
                .map_err(|e| ParseError::InvalidForm {
                    detail: e.to_string(),
                })?,
        ),
    };
    let parsed = if declared.is_some() {
        DataForm::try_from(el.clone())
    } else {
        let mut typed = el.clone();
        xml::set(&mut typed, xml_ncname!("type"), "submit");
        DataForm::try_from(typed)
    };
    let form = parsed.map_err(|e| ParseError::InvalidForm {
        detail: e.to_string(),
    })?;
    Ok((form, declared))
}

/// The `FORM_TYPE` of a form, found by `var` whatever the field's type.
pub(crate) fn form_type(form: &DataForm) -> Option<&str> {
    form.form_type().or_else(|| {
        form.fields
            .iter()
            .find(|f| f.var.as_deref() == Some("FORM_TYPE"))
            .and_then(|f| f.values.first())
            .map(String::as_str)
    })
}

/// The `FORM_TYPE` of an unparsed form element (cheap: no parse), by `var`.
pub(crate) fn element_form_type(el: &Element) -> Option<String> {
    el.children()
        .find(|f| f.is("field", ns::DATA_FORMS) && f.attr("var") == Some("FORM_TYPE"))
        .and_then(|f| f.get_child("value", ns::DATA_FORMS))
        .map(Element::text)
}

fn first_value<'a>(form: &'a DataForm, var: &str) -> Option<&'a str> {
    form.fields
        .iter()
        .find(|f| f.var.as_deref() == Some(var))
        .and_then(|f| f.values.first())
        .map(String::as_str)
}

/// The `urn:xmpp:push:summary` form of a notification (XEP-0357 §7, fields in §11.3).
///
/// Empty values count as absent: Prosody's mod_cloud_notify sends an empty
/// `pending-subscription-count` field, and a count of nothing is no count.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Summary {
    /// The form's `type` as received or to be sent; `None` writes no `type` attribute (the
    /// XEP's examples). Prosody sends `form`, ejabberd `submit`; [`Summary::new`] uses `submit`.
    pub form_type: Option<DataFormType>,
    /// `message-count`: unread or undelivered messages.
    pub message_count: Option<u32>,
    /// `pending-subscription-count`: pending incoming presence subscription requests.
    pub pending_subscription_count: Option<u32>,
    /// `last-message-sender`: who sent the last message.
    pub last_message_sender: Option<Jid>,
    /// `last-message-body`: the body of the last message (or a placeholder the server chose).
    pub last_message_body: Option<String>,
    /// Any other fields, in order (the registry defines only the four above).
    pub other: Vec<Field>,
}

impl Default for Summary {
    fn default() -> Self {
        Self::new()
    }
}

impl Summary {
    /// An empty summary, written as `type='submit'`.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            form_type: Some(DataFormType::Submit),
            message_count: None,
            pending_subscription_count: None,
            last_message_sender: None,
            last_message_body: None,
            other: Vec::new(),
        }
    }

    /// Sets `message-count`.
    #[must_use]
    pub const fn with_message_count(mut self, count: u32) -> Self {
        self.message_count = Some(count);
        self
    }

    /// Sets `pending-subscription-count`.
    #[must_use]
    pub const fn with_pending_subscription_count(mut self, count: u32) -> Self {
        self.pending_subscription_count = Some(count);
        self
    }

    /// Sets `last-message-sender`.
    #[must_use]
    pub fn with_last_message_sender(mut self, sender: Jid) -> Self {
        self.last_message_sender = Some(sender);
        self
    }

    /// Sets `last-message-body`.
    #[must_use]
    pub fn with_last_message_body(mut self, body: impl Into<String>) -> Self {
        self.last_message_body = Some(body.into());
        self
    }

    /// Sets the form's `type` (`None`: no attribute).
    #[must_use]
    pub const fn with_form_type(mut self, form_type: Option<DataFormType>) -> Self {
        self.form_type = form_type;
        self
    }

    /// Reads a parsed form. Fails with [`ParseError::WrongFormType`] for another `FORM_TYPE`.
    pub(crate) fn from_form(
        form: &DataForm,
        form_type: Option<DataFormType>,
    ) -> Result<Self, ParseError> {
        match self::form_type(form) {
            Some(ns::SUMMARY) => {}
            found => {
                return Err(ParseError::WrongFormType {
                    expected: ns::SUMMARY,
                    found: found.unwrap_or_default().to_owned(),
                });
            }
        }
        let count = |field: &'static str| -> Result<Option<u32>, ParseError> {
            match first_value(form, field).map(str::trim) {
                None | Some("") => Ok(None),
                Some(v) => v.parse().map(Some).map_err(|_| ParseError::InvalidCount {
                    field,
                    value: v.to_owned(),
                }),
            }
        };
        let sender = match first_value(form, ns::LAST_MESSAGE_SENDER).map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(v.parse::<Jid>().map_err(|_| ParseError::InvalidJid {
                element: "field",
                value: v.to_owned(),
            })?),
        };
        let body = first_value(form, ns::LAST_MESSAGE_BODY)
            .filter(|b| !b.is_empty())
            .map(str::to_owned);
        let known = [
            "FORM_TYPE",
            ns::MESSAGE_COUNT,
            ns::PENDING_SUBSCRIPTION_COUNT,
            ns::LAST_MESSAGE_SENDER,
            ns::LAST_MESSAGE_BODY,
        ];
        let other = form
            .fields
            .iter()
            .filter(|f| f.var.as_deref().is_none_or(|v| !known.contains(&v)))
            .cloned()
            .collect();
        Ok(Self {
            form_type,
            message_count: count(ns::MESSAGE_COUNT)?,
            pending_subscription_count: count(ns::PENDING_SUBSCRIPTION_COUNT)?,
            last_message_sender: sender,
            last_message_body: body,
            other,
        })
    }

    /// Appends the form as XML text (the fast path of the registry's publish iqs; the same
    /// XML as `Element::from(self)`).
    pub(crate) fn write_xml(&self, out: &mut String) {
        out.push_str("<x xmlns='jabber:x:data'");
        if let Some(t) = &self.form_type {
            let t = match t {
                DataFormType::Cancel => "cancel",
                DataFormType::Form => "form",
                DataFormType::Result_ => "result",
                DataFormType::Submit => "submit",
            };
            xml::write_attr(out, "type", t);
        }
        out.push_str("><field var='FORM_TYPE' type='hidden'><value>");
        out.push_str(ns::SUMMARY);
        out.push_str("</value></field>");
        let number = |out: &mut String, var: &str, n: Option<u32>| {
            if let Some(n) = n {
                out.push_str("<field var='");
                out.push_str(var);
                out.push_str("'><value>");
                out.push_str(itoa(n, &mut [0; 10]));
                out.push_str("</value></field>");
            }
        };
        number(out, ns::MESSAGE_COUNT, self.message_count);
        number(
            out,
            ns::PENDING_SUBSCRIPTION_COUNT,
            self.pending_subscription_count,
        );
        let text = |out: &mut String, var: &str, v: Option<&str>| {
            if let Some(v) = v {
                out.push_str("<field var='");
                out.push_str(var);
                out.push_str("'><value>");
                escape_text(out, v);
                out.push_str("</value></field>");
            }
        };
        text(
            out,
            ns::LAST_MESSAGE_SENDER,
            self.last_message_sender.as_ref().map(Jid::as_str),
        );
        text(
            out,
            ns::LAST_MESSAGE_BODY,
            self.last_message_body.as_deref(),
        );
        for field in &self.other {
            // Rare (no server we know sends extra fields): minidom writes them, with a
            // redundant but harmless `xmlns='jabber:x:data'`.
            out.push_str(&xml::element_text(&Element::from(field.clone())));
        }
        out.push_str("</x>");
    }
}

/// Formats `n` in decimal into `buf` without allocating.
fn itoa(mut n: u32, buf: &mut [u8; 10]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        // `n % 10` is a digit: the cast cannot truncate.
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

impl TryFrom<&Element> for Summary {
    type Error = ParseError;

    /// Reads `<x xmlns='jabber:x:data'/>` whose `FORM_TYPE` is `urn:xmpp:push:summary`.
    fn try_from(el: &Element) -> Result<Self, ParseError> {
        let (form, declared) = read_form(el)?;
        Self::from_form(&form, declared)
    }
}

impl From<Summary> for Element {
    fn from(s: Summary) -> Self {
        fn field(var: &str, hidden: bool, value: &str) -> Element {
            let mut f = Element::bare("field", ns::DATA_FORMS);
            xml::set(&mut f, xml_ncname!("var"), var);
            if hidden {
                xml::set(&mut f, xml_ncname!("type"), "hidden");
            }
            let mut v = Element::bare("value", ns::DATA_FORMS);
            // An empty text node would not survive a round trip through XML text.
            if !value.is_empty() {
                v.append_text(value);
            }
            f.append_child(v);
            f
        }
        let mut x = Self::bare("x", ns::DATA_FORMS);
        if let Some(t) = &s.form_type {
            xml::set(&mut x, xml_ncname!("type"), t.to_string());
        }
        x.append_child(field("FORM_TYPE", true, ns::SUMMARY));
        if let Some(n) = s.message_count {
            x.append_child(field(ns::MESSAGE_COUNT, false, &n.to_string()));
        }
        if let Some(n) = s.pending_subscription_count {
            x.append_child(field(ns::PENDING_SUBSCRIPTION_COUNT, false, &n.to_string()));
        }
        if let Some(j) = &s.last_message_sender {
            x.append_child(field(ns::LAST_MESSAGE_SENDER, false, j.as_str()));
        }
        if let Some(b) = &s.last_message_body {
            x.append_child(field(ns::LAST_MESSAGE_BODY, false, b));
        }
        for f in s.other {
            x.append_child(f.into());
        }
        x
    }
}

impl From<&Summary> for DataForm {
    /// The summary as an xmpp-parsers form (a missing `type` becomes `submit`, which
    /// xmpp-parsers requires).
    fn from(s: &Summary) -> Self {
        let mut fields = Vec::new();
        if let Some(n) = s.message_count {
            fields.push(Field::text_single(ns::MESSAGE_COUNT, &n.to_string()));
        }
        if let Some(n) = s.pending_subscription_count {
            fields.push(Field::text_single(
                ns::PENDING_SUBSCRIPTION_COUNT,
                &n.to_string(),
            ));
        }
        if let Some(j) = &s.last_message_sender {
            fields.push(
                Field::new(ns::LAST_MESSAGE_SENDER, FieldType::JidSingle).with_value(j.as_str()),
            );
        }
        if let Some(b) = &s.last_message_body {
            fields.push(Field::text_single(ns::LAST_MESSAGE_BODY, b));
        }
        fields.extend(s.other.iter().cloned());
        Self::new(
            s.form_type.clone().unwrap_or(DataFormType::Submit),
            ns::SUMMARY,
            fields,
        )
    }
}

/// The publish options of a registration (XEP-0357 §5, §7): a data form whose `FORM_TYPE` is
/// `http://jabber.org/protocol/pubsub#publish-options`, usually carrying a `secret` the app
/// server issued. The user's server copies it into every publish.
///
/// A form without `type` is stored as `type='submit'`; a form without `FORM_TYPE` is accepted
/// as it is (Prosody stores whatever form the client sent). `Debug` does not show the secret.
///
/// Two publish options are equal when they carry the same `FORM_TYPE` and the same values for
/// the same fields in the same order: field types and labels do not matter to an app server
/// (the XEP's examples give `FORM_TYPE` no type, our builder makes it hidden).
#[derive(Clone)]
pub struct PublishOptions {
    form: DataForm,
}

impl PartialEq for PublishOptions {
    fn eq(&self, other: &Self) -> bool {
        let data = |o: &Self| {
            o.form
                .fields
                .iter()
                .filter(|f| f.var.as_deref() != Some("FORM_TYPE"))
                .map(|f| (f.var.clone(), f.values.clone()))
                .collect::<Vec<_>>()
        };
        form_type(&self.form) == form_type(&other.form) && data(self) == data(other)
    }
}

impl fmt::Debug for PublishOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vars: Vec<&str> = self
            .form
            .fields
            .iter()
            .filter_map(|f| f.var.as_deref())
            .collect();
        f.debug_struct("PublishOptions")
            .field("fields", &vars)
            .finish_non_exhaustive()
    }
}

impl Default for PublishOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl PublishOptions {
    /// An empty `submit` form with the publish-options `FORM_TYPE`.
    #[must_use]
    pub fn new() -> Self {
        Self {
            form: DataForm::new(DataFormType::Submit, ns::PUBLISH_OPTIONS, Vec::new()),
        }
    }

    /// The form XEP-0357 §5 shows: `FORM_TYPE` and `secret`.
    #[must_use]
    pub fn with_secret(secret: &str) -> Self {
        Self::new().with_field(ns::SECRET_FIELD, secret)
    }

    /// Adds (or replaces) a text field.
    #[must_use]
    pub fn with_field(mut self, var: &str, value: &str) -> Self {
        self.form.fields.retain(|f| f.var.as_deref() != Some(var));
        self.form.fields.push(Field::text_single(var, value));
        self
    }

    /// Wraps an xmpp-parsers form; fails on another `FORM_TYPE` than publish-options.
    pub fn from_form(form: DataForm) -> Result<Self, ParseError> {
        match form_type(&form) {
            None | Some(ns::PUBLISH_OPTIONS) => Ok(Self { form }),
            Some(other) => Err(ParseError::WrongFormType {
                expected: ns::PUBLISH_OPTIONS,
                found: other.to_owned(),
            }),
        }
    }

    /// The `secret` field's value.
    #[must_use]
    pub fn secret(&self) -> Option<&str> {
        self.value(ns::SECRET_FIELD)
    }

    /// The first value of field `var`.
    #[must_use]
    pub fn value(&self, var: &str) -> Option<&str> {
        first_value(&self.form, var)
    }

    /// The form.
    #[must_use]
    pub const fn form(&self) -> &DataForm {
        &self.form
    }

    /// The form, taken.
    #[must_use]
    pub fn into_form(self) -> DataForm {
        self.form
    }
}

impl TryFrom<&Element> for PublishOptions {
    type Error = ParseError;

    /// Reads the `<x xmlns='jabber:x:data'/>` form.
    fn try_from(el: &Element) -> Result<Self, ParseError> {
        let (form, _) = read_form(el)?;
        Self::from_form(form)
    }
}

impl From<PublishOptions> for Element {
    fn from(p: PublishOptions) -> Self {
        p.form.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itoa_writes_every_width() {
        for n in [0, 7, 10, 99, 12_345, u32::MAX] {
            assert_eq!(itoa(n, &mut [0; 10]), n.to_string());
        }
    }

    #[test]
    fn write_xml_and_element_agree() {
        let summary = Summary::new()
            .with_message_count(3)
            .with_pending_subscription_count(0)
            .with_last_message_sender("juliet@capulet.example/balcony".parse().expect("jid"))
            .with_last_message_body("a & b <c> 'd'");
        let el = Element::from(summary.clone());
        assert_eq!(Summary::try_from(&el), Ok(summary));
    }

    #[test]
    fn the_text_writer_matches_the_element_builder() {
        let summary = Summary::new()
            .with_form_type(None)
            .with_message_count(1)
            .with_last_message_body("x");
        let mut text = String::new();
        summary.write_xml(&mut text);
        let parsed: Element = text.parse().expect("our XML parses");
        assert_eq!(parsed, Element::from(summary));
    }
}
