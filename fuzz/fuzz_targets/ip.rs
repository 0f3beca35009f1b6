//! IP parsing and masking: a masked address parses again, and masking it
//! again changes nothing.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usertrail::kernel::net::{mask, parse, IpMask};

fuzz_target!(|data: &[u8]| {
    let Some((&bits, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let m = IpMask {
        v4_bits: bits % 33,
        v6_bits: bits.wrapping_mul(7) % 129,
    };
    let parsed = parse("ip", &text);
    match mask(&text, m) {
        Ok(masked) => {
            assert!(parsed.is_ok(), "masked what did not parse: {text:?}");
            assert!(parse("ip", &masked).is_ok(), "{masked:?}");
            assert_eq!(mask(&masked, m).unwrap(), masked, "masking is idempotent");
        }
        Err(_) => assert!(parsed.is_err(), "parsed but not masked: {text:?}"),
    }
});
