//! Publishing a thing's property changes and events to the hub.

use std::sync::Arc;

use super::ThingInstance;
use crate::hub::{Hub, Notification};

impl ThingInstance {
    /// Publish this Thing's data property changes and events on `hub`.
    pub fn publish_to(self: &Arc<Self>, hub: &Hub) {
        let thing_name: Arc<str> = self.name.as_str().into();
        for (index, property) in self.properties.iter().enumerate() {
            if !property.data {
                continue;
            }
            let (weak, hub, thing_name, name) = (Arc::downgrade(self), hub.clone(), thing_name.clone(), property.name);
            self.on_property_change(
                index,
                Arc::new(move || {
                    // Published with nobody listening too: the hub keeps
                    // it for a client that resumes after a break.
                    if let Some(thing) = weak.upgrade()
                        && let Ok(value) = thing.read_property(index)
                    {
                        hub.publish(Notification::Property {
                            thing: thing_name.clone(),
                            name,
                            value: value.into(),
                        });
                    }
                }),
            );
        }
        for (index, event) in self.events.iter().enumerate() {
            let (hub, thing_name, name) = (hub.clone(), thing_name.clone(), event.name);
            if let Some(source) = self.ops.event(index) {
                source.on_emit(Arc::new(move |data| {
                    hub.publish(Notification::Event {
                        thing: thing_name.clone(),
                        name,
                        data: data.clone(),
                    });
                }));
            }
        }
    }
}
