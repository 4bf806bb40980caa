use super::*;
use crate::engine::messages::Brief;

fn room(session: &str, customer: &str) -> Chatroom {
    let mut brief = Brief {
        service: "Support".into(),
        ..Brief::default()
    };
    brief.customer.display_name = customer.into();
    Chatroom {
        session_id: session.into(),
        tenant_id: "t".into(),
        user_id: "u".into(),
        conversation_id: "a:personal".into(),
        service_url: "https://smba.example/".into(),
        mode: PERSONAL.into(),
        brief,
        opened_at: 0,
        closed_at: None,
    }
}

fn focus(session: &str, seen: &[&str]) -> Focus {
    Focus {
        session_id: session.into(),
        seen: seen.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn current_of(rooms: &[Chatroom], focus: Option<&Focus>) -> Option<String> {
    current(rooms, focus).map(|r| r.session_id.clone())
}

#[test]
fn commands_start_with_a_slash_and_everything_else_is_for_the_customer() {
    assert_eq!(said("away"), Said::Text("away"));
    assert_eq!(said("/away"), Said::Command("/away"));
    assert_eq!(said("/Status"), Said::Command("/Status"));
    assert_eq!(said("/end"), Said::End);
    assert_eq!(said("End"), Said::End);
    assert_eq!(said("/end it"), Said::Command("/end it"));
    assert_eq!(said("the end"), Said::Text("the end"));
    assert_eq!(said("/chats"), Said::Chats);
    assert_eq!(said("/switch  2 "), Said::Switch("2"));
    assert_eq!(said("/switch"), Said::Switch(""));
    assert_eq!(said("//etc/hosts"), Said::Text("/etc/hosts"));
    assert_eq!(said(""), Said::Text(""));
}

#[test]
fn one_chat_is_current_until_another_opens_and_the_agent_must_choose() {
    let ada = room("s1", "Ada");
    let grace = room("s2", "Grace");
    assert_eq!(current_of(&[], None), None);
    assert_eq!(
        current_of(std::slice::from_ref(&ada), None).as_deref(),
        Some("s1")
    );
    let both = [ada.clone(), grace.clone()];
    assert_eq!(current_of(&both, None), None);
    // Chosen while both were open.
    let chosen = focus("s2", &["s1", "s2"]);
    assert_eq!(current_of(&both, Some(&chosen)).as_deref(), Some("s2"));
    // Chosen before Grace's chat opened: unclear again.
    let early = focus("s1", &["s1"]);
    assert_eq!(current_of(&both, Some(&early)), None);
    assert_eq!(
        current_of(std::slice::from_ref(&ada), Some(&early)).as_deref(),
        Some("s1")
    );
}

#[test]
fn when_the_chosen_chat_ends_only_a_chat_opened_later_becomes_current_by_itself() {
    let ada = room("s1", "Ada");
    let carl = room("s3", "Carl");
    // Grace (s2) was chosen while Ada was open too; Grace's chat ended.
    let chose_grace = focus("s2", &["s1", "s2"]);
    assert_eq!(
        current_of(std::slice::from_ref(&ada), Some(&chose_grace)),
        None
    );
    // Carl's chat opened after that choice, and is the only one: no doubt.
    assert_eq!(
        current_of(std::slice::from_ref(&carl), Some(&chose_grace)).as_deref(),
        Some("s3")
    );
}

#[test]
fn switch_takes_a_number_of_the_list_or_the_start_of_one_customer_name() {
    let rooms = [room("s1", "Ada"), room("s2", "Grace"), room("s3", "Adam")];
    let picked = |which| pick(&rooms, which).map(|r| r.session_id.as_str());
    assert_eq!(picked("2"), Some("s2"));
    assert_eq!(picked("0"), None);
    assert_eq!(picked("4"), None);
    assert_eq!(picked("gr"), Some("s2"));
    assert_eq!(picked("ada"), None, "Ada and Adam");
    assert_eq!(picked("adam"), Some("s3"));
    assert_eq!(picked(""), None);
}

#[test]
fn the_list_numbers_the_chats_and_marks_the_current_one() {
    let rooms = [room("s1", "Ada"), room("s2", "")];
    assert_eq!(
        list(&rooms, Some(&rooms[1])),
        "1. Ada (Support)\n2. Customer (Support) – you write to this chat"
    );
}
