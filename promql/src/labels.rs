//! Label-set operations the evaluator needs: Prometheus's order, dropping
//! the metric name, grouping keys.

use std::cmp::Ordering;

use model::{Labels, METRIC_NAME};

/// Prometheus's order of label sets (`labels.Compare`): label by label,
/// name first, then value; a shorter prefix sorts first.
pub fn cmp(a: &Labels, b: &Labels) -> Ordering {
    let mut x = a.iter();
    let mut y = b.iter();
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((an, av)), Some((bn, bv))) => {
                let o = an.cmp(bn).then_with(|| av.cmp(bv));
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// Labels that describe the metric rather than the series; functions and
/// operators drop them all with the name (upstream `DropReserved`).
pub const METADATA: [&str; 3] = [METRIC_NAME, "__type__", "__unit__"];

/// The set without `__name__` (and `__type__`, `__unit__`).
pub fn drop_name(l: &Labels) -> Labels {
    l.without_names(|n| n.starts_with("__") && METADATA.contains(&n))
}

/// A label set as Prometheus 3 prints it in errors:
/// `{__name__="up", job="api"}`.
pub fn to_prometheus_string(l: &Labels) -> String {
    let parts: Vec<String> = l.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// Only the labels named in `names`.
pub fn keep(l: &Labels, names: &[String]) -> Labels {
    let mut b = l.builder();
    b.retain(|n| names.iter().any(|k| k == n));
    b.labels()
}

/// All labels but those in `names` and the metadata labels.
pub fn without(l: &Labels, names: &[String]) -> Labels {
    let mut b = l.builder();
    b.retain(|n| !METADATA.contains(&n) && !names.iter().any(|k| k == n));
    b.labels()
}

/// A grouping key: the values of `names` (`on`/`by`), or of every label but
/// `names` and the metadata labels (`ignoring`/`without`), as a string that
/// cannot collide between different sets.
pub fn signature(l: &Labels, names: &[String], include: bool) -> String {
    let mut s = String::new();
    for (n, v) in l.iter() {
        let listed = names.iter().any(|k| k == n);
        let take = if include {
            listed
        } else {
            !listed && !METADATA.contains(&n)
        };
        if take {
            s.push_str(&n.len().to_string());
            s.push(':');
            s.push_str(n);
            s.push_str(&v.len().to_string());
            s.push(':');
            s.push_str(v);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_like_prometheus() {
        let l = |p: &[(&str, &str)]| Labels::from_pairs(p.iter().copied());
        let sorted = [
            l(&[]),
            l(&[("a", "1")]),
            l(&[("a", "1"), ("b", "1")]),
            l(&[("a", "2")]),
            l(&[("aa", "0")]),
            l(&[("b", "0")]),
        ];
        for w in sorted.windows(2) {
            assert_eq!(cmp(&w[0], &w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
        let x = l(&[("__name__", "m"), ("a", "1"), ("b", "2")]);
        assert_eq!(signature(&x, &["a".into()], true), "1:a1:1");
        assert_eq!(signature(&x, &["a".into()], false), "1:b1:2");
        assert_eq!(without(&x, &["b".into()]), l(&[("a", "1")]));
        assert_eq!(keep(&x, &["b".into()]), l(&[("b", "2")]));
    }
}
