//! UniFFI exports of mtproto (Kotlin, Swift).
uniffi::setup_scaffolding!();
