//! The same async test on every executor the crate promises to work with.
//!
//! `on_every_executor!(name, |pt| async move { ... })` expands to a module
//! `name` with one test per executor: tokio's current_thread runtime, tokio's
//! multi_thread runtime (the body is `tokio::spawn`ed there, which proves
//! the futures `Send + 'static`), smol, and `futures::executor::block_on`.
//! `pt` is the path of the helper program. Include it with
//! `#[macro_use] #[path = "support/executors.rs"] mod executors;` after
//! `mod support;`.

macro_rules! on_every_executor {
    ($name:ident, |$pt:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body() -> impl std::future::Future<Output = ()> + Send + 'static {
                let $pt: &'static std::path::Path = $crate::support::pt();
                $body
            }

            #[test]
            fn tokio_current_thread() {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(body());
            }

            #[test]
            fn tokio_multi_thread() {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async { tokio::spawn(body()).await.unwrap() });
            }

            #[test]
            fn smol() {
                smol::block_on(body());
            }

            #[test]
            fn futures_block_on() {
                futures::executor::block_on(body());
            }
        }
    };
}
