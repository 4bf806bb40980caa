-- Finds the service that takes WhatsApp chats for a business number (webhook routing, and
-- the check that one number belongs to one service).
CREATE INDEX directory_whatsapp_number
    ON directory_documents (json_extract(body, '$.whatsapp.phoneNumberId'))
    WHERE kind = 'service';
