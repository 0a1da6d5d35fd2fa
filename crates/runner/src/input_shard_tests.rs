//! A shard's entities, with another shard's IDs passed over early (one ID a line, no
//! TAB): the same as every entity of the input filtered by the shard rule.

use super::*;
use crate::skip::SkipSet;

fn ids_of(source: &Source, shard: Option<Shard>) -> Vec<String> {
    Entities::open(source, None, SkipSet::default())
        .expect("open")
        .shard(shard)
        .expect("a shard")
        .map(|e| e.expect("an entity").id)
        .collect()
}

#[test]
fn a_shard_gives_the_entities_the_shard_rule_gives_it() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    // Trailing spaces, CR, vertical tab and Unicode whitespace, blank lines, a
    // multi-byte character at the end of an ID; and a file whose block holds a TAB
    // (the general path), read by column 1 and by column 2.
    let mut lines: Vec<String> = (0..300).map(|i| format!("id_{i}")).collect();
    lines.extend([
        "sp_1  ".into(),
        "cr_1\r".into(),
        "vt_1\x0b".into(),
        String::new(),
    ]);
    lines.extend(["ws_1\u{3000}".into(), "end_é".into(), "   ".into()]);
    let plain = dir.path().join("plain.txt");
    std::fs::write(&plain, lines.join("\n") + "\n").expect("written");
    let tabbed = dir.path().join("tabbed.tsv");
    // (A row without its first field is an error: the blank lines stay blank.)
    let rows: Vec<String> = lines
        .iter()
        .map(|l| match l.trim() {
            "" => String::new(),
            id => format!("{id}\tx_{l}"),
        })
        .collect();
    std::fs::write(&tabbed, rows.join("\n") + "\n").expect("written");
    for (path, column) in [(&plain, 1), (&tabbed, 1), (&tabbed, 2)] {
        let source = Source::Ids {
            path: path.clone(),
            column,
        };
        let all = ids_of(&source, None);
        assert!(all.len() > 300, "{path:?}");
        let mut covered = Vec::new();
        for i in 0..3 {
            let shard = Shard::new(i, 3).expect("a shard");
            let mine = ids_of(&source, Some(shard));
            let want: Vec<String> = all
                .iter()
                .filter(|id| shard.contains(id))
                .cloned()
                .collect();
            assert_eq!(mine, want, "{path:?} column {column} shard {shard}");
            covered.extend(mine);
        }
        covered.sort();
        let mut all = all;
        all.sort();
        assert_eq!(covered, all, "every entity in exactly one shard");
    }
}
