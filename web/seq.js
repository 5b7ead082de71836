/* seq.js - placeholder until the sequence diagram renderer lands. */
