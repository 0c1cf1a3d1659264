//! Recipe references, full references and the URL form `name/version/user/channel`.
//!
//! Invariants: the parser accepts exactly what the grammar allows (checked against an
//! independent oracle); an accepted reference renders back to the input, re-parses to an equal
//! value, survives the URL form and serde; components accepted alone obey the grammar.

#![no_main]

use conan_model::{Channel, FullReference, Name, RecipeReference, User, Version};
use conan_registry_fuzz::{is_full_reference, recipe_parts, valid_component};
use libfuzzer_sys::fuzz_target;

fn check_recipe(text: &str) {
    let parsed = text.parse::<RecipeReference>();
    let oracle = recipe_parts(text);
    assert_eq!(parsed.is_ok(), oracle.is_some(), "{text:?}: {parsed:?}");
    let Ok(reference) = parsed else { return };
    let rendered = reference.to_string();
    assert_eq!(rendered, text);
    assert!(rendered.len() <= 200);
    assert_eq!(rendered.parse::<RecipeReference>().as_ref(), Ok(&reference));
    assert!(reference.channel().is_none() || reference.user().is_some());

    // The URL form: `_` only for an absent user or channel, and back to the same value.
    let segments = reference.url_segments();
    assert_eq!(reference.url_path(), segments.join("/"));
    let [name, version, user, channel] = segments;
    assert!(name != "_" && version != "_");
    assert_eq!(user == "_", reference.user().is_none());
    assert_eq!(channel == "_", reference.channel().is_none());
    let back = RecipeReference::from_url_segments(name, version, user, channel);
    assert_eq!(back.as_ref(), Ok(&reference));

    let json = serde_json::to_string(&reference).expect("a reference serializes");
    let from_json: RecipeReference = serde_json::from_str(&json).expect("and deserializes");
    assert_eq!(from_json, reference);
    assert_eq!(FullReference::from(reference).to_string(), text);
}

fn check_full(text: &str) {
    let parsed = text.parse::<FullReference>();
    assert_eq!(
        parsed.is_ok(),
        is_full_reference(text),
        "{text:?}: {parsed:?}"
    );
    let Ok(full) = parsed else { return };
    assert_eq!(full.to_string(), text);
    assert_eq!(
        full.to_string().parse::<FullReference>().as_ref(),
        Ok(&full)
    );
    assert!(full.package_revision().is_none() || full.package_id().is_some());
    let json = serde_json::to_string(&full).expect("a full reference serializes");
    assert_eq!(
        serde_json::from_str::<FullReference>(&json).ok().as_ref(),
        Some(&full)
    );
}

/// A URL segment: `_` stands for an absent user or channel.
fn optional(segment: &str) -> Option<&str> {
    (segment != "_").then_some(segment)
}

fn check_url(text: &str) {
    let segments: Vec<&str> = text.split('/').collect();
    let [name, version, user, channel] = segments.as_slice() else {
        return;
    };
    let parsed = RecipeReference::from_url_segments(name, version, user, channel);
    // The oracle: `_` means absent, anything else must be a component, a channel needs a user.
    let (user_part, channel_part) = (optional(user), optional(channel));
    let mut rendered = format!("{name}/{version}");
    if let Some(user) = user_part {
        rendered = format!("{rendered}@{user}");
    }
    if let Some(channel) = channel_part {
        rendered = format!("{rendered}/{channel}");
    }
    let expected = valid_component(name)
        && valid_component(version)
        && user_part.is_none_or(valid_component)
        && channel_part.is_none_or(valid_component)
        && (channel_part.is_none() || user_part.is_some())
        && rendered.len() <= 200;
    assert_eq!(parsed.is_ok(), expected, "{segments:?}: {parsed:?}");
    if let Ok(reference) = parsed {
        assert_eq!(reference.url_segments().as_slice(), segments.as_slice());
        assert_eq!(reference.to_string(), rendered);
        assert!(
            reference
                .to_string()
                .split(['/', '@'])
                .all(|part| part != "_")
        );
    }
}

fn check_components(text: &str) {
    let valid = valid_component(text);
    assert_eq!(text.parse::<Name>().is_ok(), valid, "{text:?}");
    assert_eq!(text.parse::<Version>().is_ok(), valid, "{text:?}");
    assert_eq!(text.parse::<Channel>().is_ok(), valid, "{text:?}");
    if let Ok(user) = text.parse::<User>() {
        assert!(valid);
        assert_eq!(user.as_str(), text);
        assert!(!user.project_path().contains('+'));
    } else {
        assert!(!valid);
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_recipe(&text);
    check_full(&text);
    check_url(&text);
    check_components(&text);
});
