//! The store's block decoder (what `query`, skip lists and exports read back from a
//! database that may have been damaged) and the query's sort-run frames.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (i64, [i64; 4], &[u8])| {
    let (n0, counts, data) = input;
    if let Ok(units) = polyplug_store::fuzz_decode_block(data, n0, counts) {
        assert_eq!(
            units as i64, counts[0],
            "a block read with another unit count"
        );
    }
});
