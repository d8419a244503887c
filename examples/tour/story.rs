//! The narration every scene shares: titles, wrapped sentences, elements on the wire.

use xmpp_tether::minidom::Element;

pub(crate) type Result<T = (), E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// Starts a scene: a title between blank lines.
pub(crate) fn scene(title: &str) {
    println!("\n=== {title} ===\n");
}

/// Prints a sentence or two, wrapped at 96 columns; wrapped lines keep the first line's indent.
pub(crate) fn say(text: &str) {
    let indent = &text[..text.len() - text.trim_start().len()];
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        if line.len() > indent.len() && line.len() + 1 + word.len() > 96 {
            println!("{line}");
            // Events hang under their [side] tag; narration stays flush left.
            line = format!("{indent}{}", if indent.is_empty() { "" } else { "    " });
        }
        if !line.trim_start().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    println!("{line}");
}

/// Prints one element crossing the connection, or lost on it.
pub(crate) fn wire(up: bool, [arrow, lost]: [&str; 2], element: &Element) {
    let xml = String::from(element);
    match up {
        true => println!("  {arrow}   {xml}"),
        false => println!("  {lost}   {xml}   (lost)"),
    }
}

/// A short description of a stanza: a message's body, or an iq's type and id.
pub(crate) fn summary(stanza: &Element) -> String {
    let Some(body) = stanza.get_child("body", "jabber:client") else {
        let kind = stanza.attr("type").unwrap_or("?");
        return format!("an <{}/> of type {kind}", stanza.name());
    };
    match (stanza.attr("from"), stanza.attr("to")) {
        (Some(from), _) => format!("a message from {from}: {:?}", body.text()),
        (None, to) => format!("a message to {}: {:?}", to.unwrap_or("?"), body.text()),
    }
}

pub(crate) fn stanza(xml: &str) -> Result<Element> {
    Ok(xml.parse()?)
}

/// A chat message. The bodies are fixed strings with no characters to escape.
pub(crate) fn message(from: Option<&str>, to: &str, body: &str) -> Result<Element> {
    let from = from
        .map(|from| format!(" from='{from}'"))
        .unwrap_or_default();
    stanza(&format!(
        "<message xmlns='jabber:client'{from} to='{to}' type='chat'><body>{body}</body></message>"
    ))
}
