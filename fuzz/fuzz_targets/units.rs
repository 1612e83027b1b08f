//! Sizes, percents, counts, CPU lists, device numbers, network rates and class ids:
//! never a panic, and what parses
//! prints back to something that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rein::network::{self, ClassId};
use rein::units::{self, Bytes, CpuList, DeviceNumber, Rate, Weight};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(n) = units::parse_size(s) {
        assert_eq!(units::parse_size(&Bytes(n).to_string()), Ok(n));
        let _ = units::human_bytes(n);
    }
    let _ = units::parse_limit(s, units::parse_size);
    let _ = units::parse_count(s);
    if let Ok(p) = units::parse_percent_micro(s) {
        let _ = rein::resources::CpuMax::from_percent_micro(p, 100_000);
    }
    let _ = s.parse::<Weight>();
    if let Ok(l) = CpuList::parse(s) {
        assert_eq!(CpuList::parse(&l.to_string()).as_ref(), Ok(&l));
    }
    if let Ok(d) = DeviceNumber::parse(s) {
        assert_eq!(DeviceNumber::parse(&d.to_string()), Ok(d));
    }
    if let Ok(r) = Rate::parse(s) {
        assert_eq!(Rate::parse(&r.to_string()), Ok(r));
    }
    if let Ok(c) = ClassId::parse(s) {
        assert_eq!(ClassId::parse(&c.to_string()), Ok(c));
    }
    let _ = ClassId::from_net_cls(s);
    let _ = network::parse_priority(s);
});
