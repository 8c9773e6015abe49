//! The compiled route tree (upstream `dispatch/route.go`): every node with
//! its options resolved from its ancestors, and the walk that finds the
//! routes an alert takes.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::RouteConfig;
use crate::matcher::{self, Matcher};
use crate::Error;

pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);

/// A route with everything it inherits filled in.
#[derive(Debug, Clone)]
pub struct Route {
    pub receiver: String,
    /// Sorted label names to group by.
    pub group_by: Vec<String>,
    /// `group_by: [...]`: every label groups.
    pub group_by_all: bool,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub matchers: Vec<Matcher>,
    pub continue_: bool,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub routes: Vec<Route>,
    /// Upstream's route key: the matchers of every level, `{}/{a="b"}/…`.
    pub key: String,
    /// The route's place in the tree: the child index at each level
    /// (the root's is empty). Unlike the key, it tells siblings with the
    /// same matchers apart.
    pub id: Vec<usize>,
}

impl Route {
    /// A root with no receiver and no children (a placeholder).
    pub fn empty() -> Route {
        Route {
            receiver: String::new(),
            group_by: Vec::new(),
            group_by_all: false,
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
            matchers: Vec::new(),
            continue_: false,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            labels: BTreeMap::new(),
            routes: Vec::new(),
            key: String::new(),
            id: Vec::new(),
        }
    }

    /// The route at `id` (see [`Route::id`]).
    pub fn at(&self, id: &[usize]) -> Option<&Route> {
        match id.split_first() {
            None => Some(self),
            Some((i, rest)) => self.routes.get(*i)?.at(rest),
        }
    }

    /// Compiles the tree under the root `cfg` (already checked by
    /// [`crate::config::parse`]).
    pub fn new(cfg: &RouteConfig) -> Result<Route, Error> {
        build(cfg, &Route::empty(), None, Vec::new())
    }

    /// The routes an alert with `labels` takes, in order (upstream
    /// `Route.Match`): the deepest matching nodes; a matching child stops
    /// its later siblings unless it has `continue: true`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> Vec<&Route> {
        if !self.matchers.iter().all(|m| m.matches(labels)) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for c in &self.routes {
            let m = c.matches(labels);
            let hit = !m.is_empty();
            all.extend(m);
            if hit && !c.continue_ {
                break;
            }
        }
        if all.is_empty() {
            all.push(self);
        }
        all
    }
}

/// Where a route is in the file: `route`, `route.routes[1].routes[0]`.
fn path(id: &[usize]) -> String {
    let mut p = "route".to_string();
    for i in id {
        p.push_str(&format!(".routes[{i}]"));
    }
    p
}

fn build(
    cfg: &RouteConfig,
    parent: &Route,
    parent_key: Option<&str>,
    id: Vec<usize>,
) -> Result<Route, Error> {
    let at = |part: &str| format!("{}.{part}", path(&id));
    let re =
        crate::config::regex_map(&cfg.match_re).map_err(|e| Error::invalid(at("match_re"), e))?;
    let mut matchers =
        matcher::from_maps(&cfg.match_, &re).map_err(|e| Error::invalid(at("match"), e))?;
    for m in &cfg.matchers {
        matchers.extend(matcher::parse(m).map_err(|e| Error::invalid(at("matchers"), e))?);
    }
    let duration = |v: &Option<String>, inherited: Duration, part: &str| match v {
        Some(s) => model::time::parse_duration(s).map_err(|e| Error::invalid(at(part), e)),
        None => Ok(inherited),
    };
    matcher::sort(&mut matchers);
    let (group_by, group_by_all) = match &cfg.group_by {
        Some(g) if g.iter().any(|l| l == "...") => (Vec::new(), true),
        // An explicit list, even an empty one, overrides the parent's.
        Some(g) => {
            let mut g = g.clone();
            g.sort();
            (g, false)
        }
        None => (parent.group_by.clone(), parent.group_by_all),
    };
    let key = match parent_key {
        None => "{}".to_string(),
        Some(p) => format!("{p}/{}", matcher::list_string(&matchers)),
    };
    let mut r = Route {
        receiver: cfg
            .receiver
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| parent.receiver.clone()),
        group_by,
        group_by_all,
        group_wait: duration(&cfg.group_wait, parent.group_wait, "group_wait")?,
        group_interval: duration(&cfg.group_interval, parent.group_interval, "group_interval")?,
        repeat_interval: duration(
            &cfg.repeat_interval,
            parent.repeat_interval,
            "repeat_interval",
        )?,
        matchers,
        continue_: cfg.continue_,
        mute_time_intervals: cfg.mute_time_intervals.clone(),
        active_time_intervals: cfg.active_time_intervals.clone(),
        labels: cfg.labels.clone(),
        routes: Vec::new(),
        key,
        id,
    };
    let mut children = Vec::with_capacity(cfg.routes.len());
    for (i, c) in cfg.routes.iter().enumerate() {
        let mut id = r.id.clone();
        id.push(i);
        children.push(build(c, &r, Some(&r.key), id)?);
    }
    r.routes = children;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_route() {
        let cases = [
            ("receiver: r\ngroup_wait: soon\n", "route.group_wait: "),
            (
                "receiver: r\nroutes:\n- receiver: a\n- receiver: b\n  routes:\n  - matchers: ['a=~\"(\"']\n",
                "route.routes[1].routes[0].matchers: ",
            ),
        ];
        for (yaml, want) in cases {
            let cfg: RouteConfig = model::yaml::from_str(yaml).unwrap();
            let got = Route::new(&cfg).unwrap_err().to_string();
            assert!(
                got.starts_with(want),
                "input {yaml:?}: got {got:?}, want it to start with {want:?}"
            );
        }
    }
}
