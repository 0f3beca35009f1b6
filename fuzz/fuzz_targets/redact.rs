//! The redaction detectors: any text, and redacting what was redacted finds
//! nothing more.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usertrail::kernel::redact::redact;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(once) = redact(&text) {
        assert_eq!(
            redact(&once),
            None,
            "redaction is idempotent: {text:?} -> {once:?}"
        );
    }
});
