//! The WoT operation types a form performs (`op`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A WoT operation type, as the TD 1.1 vocabulary names them. A name this
/// model does not know is kept as [`Operation::Other`], so a TD from a newer
/// server can still be read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `readproperty`
    ReadProperty,
    /// `writeproperty`
    WriteProperty,
    /// `observeproperty`
    ObserveProperty,
    /// `unobserveproperty`
    UnobserveProperty,
    /// `invokeaction`
    InvokeAction,
    /// `queryaction`
    QueryAction,
    /// `cancelaction`
    CancelAction,
    /// `subscribeevent`
    SubscribeEvent,
    /// `unsubscribeevent`
    UnsubscribeEvent,
    /// `readallproperties`
    ReadAllProperties,
    /// `writeallproperties`
    WriteAllProperties,
    /// `readmultipleproperties`
    ReadMultipleProperties,
    /// `writemultipleproperties`
    WriteMultipleProperties,
    /// `observeallproperties`
    ObserveAllProperties,
    /// `unobserveallproperties`
    UnobserveAllProperties,
    /// `queryallactions`
    QueryAllActions,
    /// `subscribeallevents`
    SubscribeAllEvents,
    /// `unsubscribeallevents`
    UnsubscribeAllEvents,
    /// An operation type this model does not name, as written.
    Other(String),
}

/// Every named operation with its TD name, in one table both directions
/// read.
const NAMES: [(Operation, &str); 18] = [
    (Operation::ReadProperty, "readproperty"),
    (Operation::WriteProperty, "writeproperty"),
    (Operation::ObserveProperty, "observeproperty"),
    (Operation::UnobserveProperty, "unobserveproperty"),
    (Operation::InvokeAction, "invokeaction"),
    (Operation::QueryAction, "queryaction"),
    (Operation::CancelAction, "cancelaction"),
    (Operation::SubscribeEvent, "subscribeevent"),
    (Operation::UnsubscribeEvent, "unsubscribeevent"),
    (Operation::ReadAllProperties, "readallproperties"),
    (Operation::WriteAllProperties, "writeallproperties"),
    (Operation::ReadMultipleProperties, "readmultipleproperties"),
    (Operation::WriteMultipleProperties, "writemultipleproperties"),
    (Operation::ObserveAllProperties, "observeallproperties"),
    (Operation::UnobserveAllProperties, "unobserveallproperties"),
    (Operation::QueryAllActions, "queryallactions"),
    (Operation::SubscribeAllEvents, "subscribeallevents"),
    (Operation::UnsubscribeAllEvents, "unsubscribeallevents"),
];

impl Operation {
    /// The operation's name in a TD (`readproperty`).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(name) => name,
            named => NAMES.iter().find(|(op, _)| op == named).map_or("", |(_, name)| name),
        }
    }

    /// The operation named `name` in a TD.
    pub fn from_name(name: &str) -> Self {
        NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map_or_else(|| Self::Other(name.to_owned()), |(op, _)| op.clone())
    }

    /// Whether the operation only reads or watches (never changes the
    /// Thing): what an anonymous observer may be allowed.
    pub fn only_reads(&self) -> bool {
        matches!(
            self,
            Self::ReadProperty
                | Self::ReadAllProperties
                | Self::ObserveProperty
                | Self::UnobserveProperty
                | Self::QueryAction
                | Self::QueryAllActions
                | Self::SubscribeEvent
        )
    }

    /// The request method the WoT HTTP binding uses for the operation when
    /// a form names none (`htv:methodName`).
    pub fn default_method(&self) -> &'static str {
        match self {
            Self::WriteProperty | Self::WriteAllProperties | Self::WriteMultipleProperties => "PUT",
            Self::InvokeAction => "POST",
            Self::CancelAction => "DELETE",
            _ => "GET",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Operation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Operation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(Self::from_name(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::{NAMES, Operation};

    #[test]
    fn every_name_reads_back_as_its_operation() {
        for (op, name) in NAMES {
            assert_eq!(op.as_str(), name);
            assert_eq!(Operation::from_name(name), op);
        }
        let other = Operation::from_name("readeverything");
        assert_eq!(other, Operation::Other("readeverything".into()));
        assert_eq!(other.as_str(), "readeverything");
    }
}
