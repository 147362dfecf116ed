//! Expansion snapshots: the code `#[thing]` generates for representative
//! Things, formatted and compared with the committed `.snap` files. Review the
//! diff when it changes (`INSTA_UPDATE=always cargo test` re-records).

use quote::quote;

fn expand_pretty(item: proc_macro2::TokenStream) -> String {
    let tokens = crate::expand::expand(proc_macro2::TokenStream::new(), item);
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(e) => format!("/* did not parse ({e}) */\n{tokens}"),
    }
}

#[test]
fn stage_with_getter_setter_and_action() {
    let out = expand_pretty(quote! {
        /// A mock translation stage.
        impl Stage {
            /// Current position in motor steps.
            #[property]
            fn position(&self) -> [i64; 3] { *self.position.lock() }

            /// Delay between steps, in milliseconds.
            #[property]
            fn step_delay_ms(&self) -> u64 { self.delay.load(Ordering::Relaxed) }

            #[setter(step_delay_ms)]
            fn set_step_delay_ms(&self, value: u64) { self.delay.store(value, Ordering::Relaxed) }

            /// Move by a relative amount.
            #[action(retention_secs = 60)]
            pub fn move_relative(&self, x: i64, #[default(0)] y: i64, cancel: CancelHook) -> Result<[i64; 3], Cancelled> {
                cancel.check()?;
                Ok([x, y, 0])
            }
        }
    });
    insta::assert_snapshot!(out);
}

#[test]
fn bench_with_unit_action_and_renamed_property() {
    let out = expand_pretty(quote! {
        impl Bench {
            #[property(name = "label")]
            fn label_text(&self) -> Result<String, std::io::Error> { Ok(String::new()) }

            /// Do nothing.
            #[action]
            fn noop(&self, handle: &InvocationHandle) {}
        }
    });
    insta::assert_snapshot!(out);
}

#[test]
fn data_properties_slots_hooks_locks_and_params() {
    let out = expand_pretty(quote! {
        impl Autofocus {
            /// Calibration.
            #[property(setting, minimum = 0.5, unit = "um")]
            fn calibration(&self) -> &DataProperty<f64> { &self.calibration }

            /// Last result.
            #[property(read_only)]
            fn best_z(&self) -> &DataProperty<Option<i64>> { &self.best_z }

            #[slot]
            fn stage(&self) -> &ThingSlot<Stage> { &self.stage }

            #[on_start]
            fn open(&self) -> Result<(), String> { Ok(()) }

            #[on_stop]
            fn close(&self) {}

            /// Scan.
            #[action(lock = "server", when_busy = "reject")]
            fn scan(&self, #[default(5)] #[param(minimum = 1, unit = "um", description = "Step size")] step: i64) -> i64 { step }
        }
    });
    insta::assert_snapshot!(out);
}

#[test]
fn errors_are_collected_and_the_item_is_kept() {
    let out = expand_pretty(quote! {
        impl Broken {
            #[property]
            fn takes_args(&self, x: i64) -> i64 { x }

            #[setter(nothing)]
            fn set_nothing(&self, value: i64) {}

            #[action]
            async fn later(&self) {}
        }
    });
    // Three problems, three compile_error!s, plus the user's impl and a stub.
    assert_eq!(out.matches("compile_error!").count(), 3, "{out}");
    assert!(out.contains("fn takes_args(&self, x: i64)"), "{out}");
    let item = out.split("::core::compile_error!").next().unwrap_or_default();
    assert!(!item.contains("#[property]"), "inner attributes are stripped: {out}");
    assert!(!item.contains("#[setter"), "inner attributes are stripped: {out}");
    assert!(out.contains("unreachable!"), "a stub Thing impl is emitted: {out}");
}
