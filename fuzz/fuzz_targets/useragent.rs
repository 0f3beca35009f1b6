//! User-agent reduction: any text gives a family, an OS and a device class,
//! and the reduction of a checked header never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usertrail::kernel::useragent;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let ua = useragent::parse(&text);
    assert!(!ua.browser.is_empty() && !ua.os.is_empty());
    let _ = useragent::check(&text);
});
