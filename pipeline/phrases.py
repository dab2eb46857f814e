"""The words a course is written in around the manual's text: English, or French for a French subject.

The manual's own text stays English (there is one manual in the knowledge base); what the course
says itself — headings, objectives, notices, quiz questions — follows the learner's language.
"""

from __future__ import annotations

__all__ = ("PHRASES", "phrase")

PHRASES: dict[str, tuple[str, str]] = {
    # key: (English, French)
    "objectives": ("Learning objectives", "Objectifs"),
    "after": ("After this course you can:", "À la fin de ce cours, vous saurez :"),
    "what_it_is": ("What it is", "De quoi s'agit-il ?"),
    "syntax": ("Syntax", "Syntaxe"),
    "lesson": ("Lesson and examples", "Leçon et exemples"),
    "pitfalls": ("Pitfalls", "Pièges"),
    "summary": ("Summary", "Résumé"),
    "quiz": ("Quiz", "Quiz"),
    "answers": ("Answers", "Réponses"),
    "sources": ("Sources", "Sources"),
    "example": ("Example", "Exemple"),
    "prints": ("It prints:", "Il affiche :"),
    "prints_error": ("It prints (the error is the point):", "Il affiche (l'erreur est voulue) :"),
    "prints_order": ("It prints (the order of a set's strings follows their hashes, which change from run to "
                     "run: yours may differ):",
                     "Il affiche (l'ordre des chaînes d'un ensemble suit leur hachage, qui change d'une exécution "
                     "à l'autre : le vôtre peut différer) :"),
    "prints_address": ("It prints (addresses in memory change from run to run: yours will differ):",
                       "Il affiche (les adresses en mémoire changent d'une exécution à l'autre : les vôtres "
                       "différeront) :"),
    "prints_time": ("It prints (times and random values change from run to run: yours will differ):",
                    "Il affiche (durées, dates et valeurs aléatoires changent d'une exécution à l'autre : les "
                    "vôtres différeront) :"),
    "prints_nothing": ("It prints nothing: it only defines what it names.",
                       "Il n'affiche rien : il ne fait que définir ce qu'il nomme."),
    "prints_nothing_import": ("It prints nothing: it imports what the examples after it use.",
                              "Il n'affiche rien : il importe ce qu'utilisent les exemples suivants."),
    "continues": ("It continues Example {n} (it uses what that one defined).",
                  "Il poursuit l'exemple {n} (il utilise ce que celui-ci a défini)."),
    "not_run": ("From the manual, not run here: {reason}.", "Tiré du manuel, non exécuté ici : {reason}."),
    "built_from": ("A course built from {n} of the Python manual: {names}.",
                   "Un cours construit à partir de {n} du manuel de Python : {names}."),
    "section": ("section", "section"),
    "sections": ("sections", "sections"),
    "french_note": ("", "*Le texte du manuel est cité en anglais, sa langue d'origine ; chaque source renvoie "
                        "aussi à sa traduction française.*"),
    "partial": ("**Only part of this subject is covered.** The manual's headings, index and API names say "
                "nothing of {missing}: that part is not in this course.",
                "**Ce sujet n'est couvert qu'en partie.** Les titres, l'index et les noms d'API du manuel ne "
                "disent rien de {missing} : cette partie n'est pas dans ce cours."),
    "obj_answer": ("answer the question “{question}” with the manual's own explanation and examples;",
                   "répondre à la question « {question} » avec les explications et les exemples du manuel ;"),
    "obj_explain": ("explain what {named} {verb} and when to use {pronoun};",
                    "expliquer ce que {verb_fr} {named} et quand s'en servir ;"),
    "obj_use": ("use {names} and read {their} signature{s};", "utiliser {names} et lire {leurs} signature{s} ;"),
    "obj_examples": ("predict what the examples print, and what a changed version prints;",
                     "prévoir ce qu'affichent les exemples, et ce qu'affiche une version modifiée ;"),
    "obj_pitfalls": ("avoid the pitfalls the manual warns about;", "éviter les pièges signalés par le manuel ;"),
    "obj_quiz": ("answer the quiz at the end without looking back.",
                 "répondre au quiz final sans revenir en arrière."),
    "from": ("From {source}.", "Tiré {source}."),
    "summary_examples": ("The numbered examples ran here as shown, each with the output it printed: change them "
                         "and run them again.",
                         "Les exemples numérotés ont été exécutés ici tels quels, chacun avec ce qu'il a affiché : "
                         "modifiez-les et relancez-les."),
    "q_changed": ("Example {n} is changed: {old} becomes {new}. What does it print now?",
                  "On modifie l'exemple {n} : {old} devient {new}. Qu'affiche-t-il maintenant ?"),
    "q_removed": ("Example {n} is changed: the line {old} is taken out. What does it print now?",
                  "On modifie l'exemple {n} : on retire la ligne {old}. Qu'affiche-t-il maintenant ?"),
    "q_after": ("(It runs after the examples it builds on, as in the lesson.)",
                "(Il s'exécute après les exemples dont il dépend, comme dans la leçon.)"),
    "a_before": ("Before the change it printed:", "Avant la modification, il affichait :"),
    "q_pitfall": ("The manual warns about this. What does this code print, and why?",
                  "Le manuel met en garde contre ceci. Qu'affiche ce code, et pourquoi ?"),
    "a_why": ("Why:", "Pourquoi :"),
    "a_fails": ("Then it stops with this error:", "Puis il s'arrête sur cette erreur :"),
    "a_instead": ("instead prints", "affiche au contraire"),
    "q_not": ("Find the bug: this code writes `{wrong}` where it means what `{right}` makes. What does it print, "
              "and what is wrong?",
              "Trouvez le bogue : ce code écrit `{wrong}` là où il veut ce que fait `{right}`. Qu'affiche-t-il, "
              "et qu'est-ce qui ne va pas ?"),
    "q_api": ("Which of these matches this description: “{task}”?",
              "Lequel de ces éléments correspond à cette description : « {task} » ?"),
    "pitfall_quiz": ("What this code prints is question {n} of the quiz.",
                     "Ce qu'affiche ce code est la question {n} du quiz."),
    "too_little": ("The manual's sections on this show {count} that runs on its own and prints what it does: "
                   "the others need what their pages define around them (read them there, under Sources).",
                   "Les sections du manuel sur ce sujet ne montrent que {count} qui s'exécute seul et affiche ce "
                   "qu'il fait : les autres dépendent de ce que leurs pages définissent autour (voir Sources)."),
    "examples_count": ("{n} example", "{n} exemple"),
    "no_example": ("no example", "aucun exemple"),
    "french_page": ("French translation", "traduction française"),
}


def phrase(key: str, french: bool = False, **values: object) -> str:
    english, in_french = PHRASES[key]
    text = in_french if french and in_french else english
    return text.format(**values) if values else text
