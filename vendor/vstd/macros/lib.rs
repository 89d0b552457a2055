//! The forms Verus's macros take when ghost code is erased (a build without
//! Verus): the annotated item unchanged, and no code for a proof block.

use proc_macro::TokenStream;

/// `#[verus_spec(..)]`: the item unchanged (its specification is erased).
#[proc_macro_attribute]
pub fn verus_spec(_spec: TokenStream, item: TokenStream) -> TokenStream {
    item
}

/// `#[verus_verify(..)]`: the item unchanged.
#[proc_macro_attribute]
pub fn verus_verify(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}

/// `proof! { .. }`: nothing (a proof block is ghost code).
#[proc_macro]
pub fn proof(_block: TokenStream) -> TokenStream {
    TokenStream::new()
}

/// `proof_with!(..)`: nothing (ghost arguments for the next call).
#[proc_macro]
pub fn proof_with(_args: TokenStream) -> TokenStream {
    TokenStream::new()
}
