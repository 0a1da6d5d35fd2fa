//! The names Kubernetes checks: Job names (DNS-1123 labels), label values and claim
//! names (DNS-1123 subdomains), and the Job name made from a plugin and a run.

use crate::K8sError;

/// The longest suffix added to the base name: the merge Job of a failed-only rerun.
const LONGEST_SUFFIX: &str = "-retry-merge";

/// The longest base name: every Job name made from it (`<name>`, `<name>-merge`,
/// `<name>-retry`, `<name>-retry-merge`) is then a DNS-1123 label of at most 63
/// characters, which the `job-name` label Kubernetes puts on every pod requires.
pub const MAX_NAME_LEN: usize = 63 - LONGEST_SUFFIX.len();

/// What every name made here starts with.
const PREFIX: &str = "polyplug";

/// A valid Job base name for a run of a plugin: `polyplug-<plugin>-<run>`, where
/// `<plugin>` is the plugin ID lower-cased, every character other than `a-z`, `0-9`
/// and `-` made a `-` (runs of them one, none at either end), and `<run>` the first 8
/// characters of the run ID made so too. The plugin part is shortened so that the
/// name has at most [`MAX_NAME_LEN`] (51) characters: every Job name made from it,
/// `-merge`, `-retry` and `-retry-merge` added, fits in Kubernetes' 63.
///
/// ```
/// assert_eq!(
///     polyplug_k8s::job_name("Fas_Stats", "1A2B3C4D-5e6f-4a5b-8c7d-0123456789ab"),
///     "polyplug-fas-stats-1a2b3c4d"
/// );
/// ```
#[must_use]
pub fn job_name(plugin_id: &str, run_id: &str) -> String {
    let run = sanitize(&run_id.chars().take(8).collect::<String>());
    let run_part = if run.is_empty() { 0 } else { run.len() + 1 };
    let room = MAX_NAME_LEN.saturating_sub(PREFIX.len() + 1 + run_part);
    let plugin = truncated(sanitize(plugin_id), room);
    let mut name = String::from(PREFIX);
    for part in [plugin, run] {
        if !part.is_empty() {
            name.push('-');
            name.push_str(&part);
        }
    }
    name
}

/// Checks that `name` can be the base name of the Jobs.
pub(crate) fn check_name(name: &str) -> Result<(), K8sError> {
    match name_rule(name) {
        None => Ok(()),
        Some(rule) => Err(K8sError::Name {
            name: name.to_owned(),
            rule,
            suggestion: suggestion(name),
        }),
    }
}

/// The first DNS-1123 label rule (or length limit) `name` breaks.
fn name_rule(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".to_owned());
    }
    if let Some(c) = name.chars().find(char::is_ascii_uppercase) {
        return Some(format!(
            "it has the upper-case letter {c:?} (names are lower-case)"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Some(format!(
            "it has {c:?}, and a name has only a-z, 0-9 and '-'"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("it starts or ends with '-'".to_owned());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!(
            "it is {} characters long, more than {MAX_NAME_LEN} (the Job names made from \
             it, up to `<name>{LONGEST_SUFFIX}`, must fit in 63)",
            name.len()
        ));
    }
    None
}

/// A name close to `name` that keeps every rule.
fn suggestion(name: &str) -> String {
    let s = truncated(sanitize(name), MAX_NAME_LEN);
    if s.is_empty() {
        PREFIX.to_owned()
    } else {
        s
    }
}

/// `s` lower-cased, each character other than `a-z`, `0-9` made a `-`, runs of `-`
/// made one, and none at either end (so the result is ASCII).
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// An ASCII `s` cut to at most `max` characters, with no `-` at the end.
fn truncated(mut s: String, max: usize) -> String {
    if s.len() > max && s.is_char_boundary(max) {
        s.truncate(max);
    }
    while s.ends_with('-') {
        s.pop();
    }
    s
}

/// Checks that `value` can be a label value: at most 63 characters of `A-Z a-z 0-9 -
/// _ .`, starting and ending with a letter or digit (and, here, not empty).
pub(crate) fn check_label_value(what: &'static str, value: &str) -> Result<(), K8sError> {
    let why = if value.is_empty() {
        Some("it is empty".to_owned())
    } else if value.len() > 63 {
        Some(format!(
            "{value:?} is {} characters long, and a Kubernetes label value at most 63",
            value.len()
        ))
    } else if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(*c, '-' | '_' | '.')))
    {
        Some(format!(
            "{value:?} has {c:?}, and a Kubernetes label value has only A-Z, a-z, 0-9, \
             '-', '_' and '.'"
        ))
    } else if !value.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !value.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        Some(format!(
            "{value:?} must start and end with a letter or digit (it is a Kubernetes label \
             value)"
        ))
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(K8sError::Invalid { what, why }),
    }
}

/// Checks that `claim` can name a PersistentVolumeClaim (a DNS-1123 subdomain).
pub(crate) fn check_claim(claim: &str) -> Result<(), K8sError> {
    let lower_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = !claim.is_empty()
        && claim.len() <= 253
        && claim
            .chars()
            .all(|c| lower_alnum(c) || c == '-' || c == '.')
        && claim.starts_with(lower_alnum)
        && claim.ends_with(lower_alnum);
    if ok {
        Ok(())
    } else {
        Err(K8sError::Invalid {
            what: "PersistentVolumeClaim name",
            why: format!(
                "{claim:?} is not a DNS-1123 subdomain: lower-case letters, digits, '-' and \
                 '.', starting and ending with a letter or digit, at most 253 characters"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_only_what_a_label_allows() {
        assert_eq!(sanitize("Fas_Stats"), "fas-stats");
        assert_eq!(sanitize("__org.Example..stats__"), "org-example-stats");
        assert_eq!(sanitize("é_ü"), "");
        assert_eq!(sanitize("a-b"), "a-b");
    }

    #[test]
    fn made_names_keep_the_rules_and_the_length() {
        let long = "X".repeat(200);
        let name = job_name(&long, "1a2b3c4d-5e6f");
        assert_eq!(name.len(), MAX_NAME_LEN, "{name}");
        assert!(name_rule(&name).is_none(), "{name}");
        assert!(name.ends_with("-1a2b3c4d"), "{name}");
        assert_eq!(job_name("___", "1a2b3c4d"), "polyplug-1a2b3c4d");
        assert_eq!(job_name("stats", ""), "polyplug-stats");
        assert_eq!(job_name("", "--"), "polyplug");
        // A cut that would end in '-' drops it.
        let name = job_name(&format!("{}-b", "a".repeat(32)), "1a2b3c4d");
        assert_eq!(name, format!("polyplug-{}-1a2b3c4d", "a".repeat(32)));
        assert!(name_rule(&name).is_none(), "{name}");
        assert_eq!(MAX_NAME_LEN + "-retry-merge".len(), 63);
    }

    #[test]
    fn each_name_rule_is_told() {
        assert_eq!(name_rule("polyplug-stats-1a2b3c4d"), None);
        assert_eq!(name_rule("").as_deref(), Some("it is empty"));
        assert!(name_rule("Stats").is_some_and(|r| r.contains("upper-case letter 'S'")));
        assert!(name_rule("a.b").is_some_and(|r| r.contains("it has '.'")));
        assert!(name_rule("-ab").is_some_and(|r| r.contains("starts or ends with '-'")));
        assert!(name_rule(&"a".repeat(52)).is_some_and(|r| r.contains("52 characters long")));
        assert_eq!(name_rule(&"a".repeat(51)), None);
        assert_eq!(suggestion("My.Stats"), "my-stats");
        assert_eq!(suggestion("..."), "polyplug");
    }

    #[test]
    fn label_values_and_claims_are_checked() {
        assert!(check_label_value("run ID", "1a2b3c4d-5e6f-4a5b-8c7d-0123456789ab").is_ok());
        assert!(check_label_value("run ID", "Run_1.a").is_ok());
        let long = "a".repeat(64);
        for bad in ["", "a/b", "-a", "a.", long.as_str()] {
            assert!(check_label_value("run ID", bad).is_err(), "{bad:?}");
        }
        assert!(check_claim("polyplug-data.v1").is_ok());
        for bad in ["", "Data", "data_1", "-data", "data."] {
            assert!(check_claim(bad).is_err(), "{bad:?}");
        }
    }
}
