-- The agent's Teams locale (the install activity's `locale`, e.g. `de-DE`): cards rendered for
-- them format numbers in it, as a Teams client expanding the template would.
ALTER TABLE registrations ADD COLUMN locale TEXT;
