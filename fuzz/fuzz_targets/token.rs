//! Session tokens: any text either names a place (slot, session id) or is
//! refused; a session id the parser accepts passes the id check.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usertrail::session::token;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = token::parse(&text);
    let _ = token::is_session_id(&text);
});
