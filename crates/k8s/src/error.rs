//! Why the Jobs of a run cannot be built: each error names the option or field it is
//! about and says how to fix it.

/// Why the Kubernetes objects of a sharded run cannot be built or written.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    /// The base name of the Jobs is not a DNS-1123 label short enough for every Job
    /// name made from it (up to `<name>-retry-merge`).
    #[error(
        "the Job name {name:?} is not a valid Kubernetes name (a DNS-1123 label): {rule}; \
         try {suggestion:?}"
    )]
    Name {
        /// The name given.
        name: String,
        /// The rule it breaks.
        rule: String,
        /// A name made from it that keeps every rule.
        suggestion: String,
    },
    /// `shards` is 0.
    #[error("--shards 0: a run is split into at least 1 shard")]
    NoShards,
    /// `only` is an empty list.
    #[error("no shard to rerun: the list of shards to rerun (--failed-only) is empty")]
    NoShardsToRerun,
    /// A shard to rerun is not a shard of the run.
    #[error(
        "shard {shard} does not exist: a run of {shards} shards has shards 0 to {last}",
        last = shards.saturating_sub(1)
    )]
    ShardOutOfRange {
        /// The shard asked for.
        shard: u32,
        /// The run's number of shards.
        shards: u32,
    },
    /// The shards to rerun are not in increasing order, or one is repeated.
    #[error(
        "the shards to rerun must be sorted, each once: shard {shard} comes after shard {after}"
    )]
    ShardsNotSorted {
        /// The shard out of place.
        shard: u32,
        /// The shard before it.
        after: u32,
    },
    /// Another value Kubernetes or polyplug would refuse (the image, the run ID, the
    /// volume, a count, the run arguments, …).
    #[error("invalid {what}: {why}")]
    Invalid {
        /// What the value is (`run ID (--run-id)`, `image (--image)`, …).
        what: &'static str,
        /// What is wrong with it, and how to fix it.
        why: String,
    },
    /// A Job could not be written as YAML.
    #[error("cannot write the Jobs as YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
}
