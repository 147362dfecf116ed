//! Expansion snapshots: the code `#[thing]` generates for representative
//! Things, formatted and compared with the committed `.snap` files. Review the
//! diff when it changes (`INSTA_UPDATE=always cargo test` re-records).

use quote::quote;

fn expand_pretty(item: proc_macro2::TokenStream) -> String {
    pretty(crate::expand::expand(proc_macro2::TokenStream::new(), item))
}

/// Generated tokens as formatted Rust (or the raw tokens if they do not parse).
/// The typed client, passed to the facade's `client_code!` (which keeps it
/// only with the `client` feature), is shown formatted as a `mod
/// client_code` so its code can be read like the rest.
fn pretty(tokens: proc_macro2::TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(mut file) => {
            for item in &mut file.items {
                if let syn::Item::Macro(call) = item
                    && call.mac.path.segments.last().is_some_and(|s| s.ident == "client_code")
                    && let Ok(inner) = syn::parse2::<syn::File>(call.mac.tokens.clone())
                {
                    let items = inner.items;
                    *item = syn::parse_quote!(mod client_code { #(#items)* });
                }
            }
            prettyplease::unparse(&file)
        }
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
fn action_with_typed_intermediate_results() {
    let out = expand_pretty(quote! {
        impl Autofocus {
            /// Scan z.
            #[action]
            fn scan(&self, range: i64, handle: &InvocationHandle<FocusPoint>) -> i64 { range }
        }
    });
    insta::assert_snapshot!(out);
}

#[test]
fn async_action_getter_setter_and_hook() {
    let out = expand_pretty(quote! {
        impl Thermometer {
            #[on_start]
            async fn open(&self) -> Result<(), std::io::Error> { Ok(()) }

            /// The temperature.
            #[property]
            async fn temperature(&self) -> f64 { 21.5 }

            async fn set_temperature(&self, value: f64) {}

            /// Record.
            #[action(lock)]
            async fn record(&self, count: u32, handle: &InvocationHandle<f64>) -> Vec<f64> { Vec::new() }

            /// Wait, handling cancellation itself.
            #[action]
            async fn wait(&self, cancel: CancelHook) -> Result<(), Cancelled> { Ok(()) }
        }
    });
    insta::assert_snapshot!(out);
}

#[test]
fn struct_fields_properties_slots_streams_and_events() {
    let out = expand_pretty(quote! {
        /// Autofocus.
        ///
        /// Scans z and keeps the sharpest position.
        pub struct Autofocus {
            /// Calibration.
            #[property(setting, minimum = 0.5, unit = "um")]
            calibration: DataProperty<f64>,
            /// Last result.
            #[property(read_only, name = "best")]
            pub best_z: DataProperty<Option<i64>>,
            #[slot]
            stage: ThingSlot<Stage>,
            /// The sharpness map.
            #[stream]
            preview: MjpegStream,
            /// Sent after each scan.
            #[event]
            scanned: Event<i64>,
            scratch: Mutex<Vec<u8>>,
        }
    });
    insta::assert_snapshot!(out);
}

#[test]
fn hooks_locks_and_params() {
    let out = expand_pretty(quote! {
        impl Autofocus {
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
fn endpoints_with_parameters_and_methods() {
    let out = expand_pretty(quote! {
        impl Camera {
            /// The newest frame.
            #[endpoint]
            pub fn latest(&self, #[default(80)] #[param(maximum = 100)] quality: u8) -> Result<Raw, std::io::Error> { Err(std::io::Error::other("off")) }

            #[endpoint(name = "clear-log", method = "post")]
            fn clear(&self) -> Raw { Raw::text("") }

            /// Apply settings sent as the JSON body; answer the gain as JSON.
            #[endpoint(method = "put")]
            fn configure(&self, #[default(false)] dry_run: bool, settings: Json<Settings>) -> Json<u32> { Json(settings.gain) }
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

            #[slot]
            fn stage(&self) -> &ThingSlot<Stage> { &self.stage }

            #[endpoint]
            async fn later(&self) -> Raw { Raw::text("") }
        }
    });
    // Three problems, three compile_error!s, plus the user's impl and a stub.
    assert_eq!(out.matches("compile_error!").count(), 3, "{out}");
    assert!(out.contains("fn takes_args(&self, x: i64)"), "{out}");
    let item = out.split("::core::compile_error!").next().unwrap_or_default();
    assert!(!item.contains("#[property]"), "inner attributes are stripped: {out}");
    assert!(!item.contains("#[slot"), "inner attributes are stripped: {out}");
    assert!(out.contains("unreachable!"), "a stub Thing impl is emitted: {out}");
}

#[test]
fn field_errors_are_collected_and_the_struct_is_kept() {
    let out = expand_pretty(quote! {
        struct Broken {
            #[property]
            not_data: u32,
            #[action]
            misplaced: DataProperty<u32>,
            #[event]
            not_an_event: u32,
        }
    });
    assert_eq!(out.matches("compile_error!").count(), 3, "{out}");
    let item = out.split("::core::compile_error!").next().unwrap_or_default();
    assert!(!item.contains("#[property]"), "field attributes are stripped: {out}");
    assert!(item.contains("not_data: u32"), "the struct is kept: {out}");
    assert!(
        out.contains("ThingStruct for Broken"),
        "a stub ThingStruct impl is emitted: {out}"
    );
}

#[test]
fn model_derives_through_the_facade() {
    let item = quote! {
        /// A reading.
        #[derive(Debug)]
        #[serde(rename_all = "camelCase")]
        pub struct Reading { value_mv: f64 }
    };
    let out = pretty(crate::expand::expand_model(proc_macro2::TokenStream::new(), item));
    insta::assert_snapshot!(out);
}
