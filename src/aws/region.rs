//! AWS region names: the shape every region has, and the list this build
//! knows (for a clear error on a typo at validate time).

/// The commercial, GovCloud and China regions this build knows.
pub const KNOWN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// Whether `region` has a region's shape (`xx-word-N`, `us-gov-west-1`):
/// lower-case letters and digits in dash-separated parts ending in a number.
pub fn is_well_formed(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `region` is one this build knows.
pub fn is_known(region: &str) -> bool {
    KNOWN_REGIONS.contains(&region)
}

/// The known region nearest to `region` by edit distance, for a "did you
/// mean" help line.
pub fn suggest(region: &str) -> Option<&'static str> {
    KNOWN_REGIONS
        .iter()
        .map(|known| (strsim::levenshtein(region, known), *known))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, known)| known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_shapes_and_known_names() {
        assert!(is_well_formed("us-east-1") && is_known("us-east-1"));
        assert!(is_well_formed("us-gov-west-1"));
        assert!(is_well_formed("xx-moon-9") && !is_known("xx-moon-9"));
        for bad in ["", "useast1", "us-east", "US-EAST-1", "us-east-1 ", "us--1"] {
            assert!(!is_well_formed(bad), "{bad}");
        }
        assert_eq!(suggest("us-est-1"), Some("us-east-1"));
        assert_eq!(suggest("nowhere"), None);
    }
}
