#!/usr/bin/env python3
"""Writes kd's small demo corpora under corpora/ (deterministic; stdlib only).

All text is original: sentences are composed from phrase banks written by the
kd team (released under CC0), with invented companies, services, people and
laws. The output exercises every ingest format that `make demo` needs:

  corpora/medical/abstract_topics/abstracts.csv            CSV, RFC 4180 quoting
  corpora/medical/abstract_topics/more_abstracts.jsonl.gz  gzip JSON lines
  corpora/medical/pubmed_sample/sample.xml                 PubMed XML
  corpora/legal/clause_fairness/{sentences,tags}/*.txt     parallel line files
  corpora/legal/kd-corpus.yaml                             manifest for the above
  corpora/legal/statutes/*.xml                             USLM and Akoma Ntoso
  corpora/financial/banking_intents/queries.tsv            TSV
  corpora/financial/filings/*.htm                          EDGAR-style HTML
  corpora/README.md                                        description and counts

Usage: python3 tools/make_demo_corpora.py [--out corpora] [--seed 20261129]
Rerunning with the same seed rewrites byte-identical files.
"""

import argparse
import collections
import csv
import gzip
import io
import json
import os
import random
import re

SEED = 20261129


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def cap(s):
    return s[:1].upper() + s[1:]


class Filler:
    """Fills templates: `[a|b|c]` picks one alternative, `{slot}` draws from a phrase bank,
    `{slot_cap}` capitalises, and `{slot2}` draws a second value different from `{slot}`."""

    def __init__(self, rng, banks):
        self.rng = rng
        self.banks = banks

    def fill(self, template, fixed=None):
        chosen = dict(fixed or {})

        def base_of(key):
            if key in self.banks:
                return key, False
            m = re.fullmatch(r"([a-z_]+?)(_cap)?([0-9]*)", key)
            return m.group(1), bool(m.group(2))

        def draw(bank):
            return bank() if callable(bank) else self.rng.choice(bank)

        def pick(match):
            key = match.group(1)
            if key in chosen:
                return chosen[key]
            base, capitalise = base_of(key)
            bank = self.banks[base]
            used = {v.lower() for k, v in chosen.items() if base_of(k)[0] == base}
            value = draw(bank)
            for _ in range(8):  # a second slot of the same kind gets a different value
                if value.lower() not in used:
                    break
                value = draw(bank)
            chosen[key] = cap(value) if capitalise else value
            return chosen[key]

        template = re.sub(r"\[([^\[\]]*\|[^\[\]]*)\]", lambda m: self.rng.choice(m.group(1).split("|")), template)
        text = re.sub(r"\{([a-z_0-9]+)\}", pick, template)
        return re.sub(r"(?<!\.)\.\.(?!\.)", ".", text)  # "Ltd." at the end of a sentence


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


# ---------------------------------------------------------------------------
# Medical abstracts (CSV + JSONL.gz)
# ---------------------------------------------------------------------------

# Each topic has clusters of conditions with the interventions and outcomes that
# belong with them, so one abstract stays clinically coherent; tests, adverse
# events and jargon are shared within the topic.
MED_TOPICS = {
    "cardiology": {
        "clusters": [
            (["heart failure with reduced ejection fraction", "heart failure with preserved ejection fraction",
              "peripartum cardiomyopathy"],
             ["sacubitril-valsartan", "SGLT2 inhibitor therapy", "rapid up-titration of beta-blockers",
              "a supervised cardiac rehabilitation program", "nurse-led remote monitoring"],
             ["left ventricular ejection fraction", "30-day readmission", "NT-proBNP concentration",
              "six-minute walk distance", "hospitalisation for heart failure"]),
            (["atrial fibrillation", "postoperative atrial fibrillation"],
             ["catheter ablation", "a direct oral anticoagulant", "left atrial appendage occlusion",
              "early rhythm control"],
             ["arrhythmia recurrence", "stroke or systemic embolism", "time in sinus rhythm"]),
            (["acute myocardial infarction", "non-ST-elevation acute coronary syndrome", "stable angina"],
             ["percutaneous coronary intervention", "high-intensity statin therapy", "an early invasive strategy",
              "a supervised cardiac rehabilitation program"],
             ["major adverse cardiovascular events", "peak troponin level", "cardiovascular death",
              "angina frequency"]),
            (["severe aortic stenosis"],
             ["transcatheter aortic valve replacement", "surgical valve replacement"],
             ["all-cause mortality at one year", "valve gradient", "quality of life scores"]),
            (["resistant hypertension"],
             ["remote blood pressure telemonitoring", "renal denervation", "a single-pill triple combination"],
             ["office systolic blood pressure", "24-hour ambulatory blood pressure"]),
            (["hypertrophic cardiomyopathy", "ventricular tachycardia"],
             ["an implantable cardioverter-defibrillator", "a cardiac myosin inhibitor", "catheter ablation"],
             ["left ventricular outflow tract gradient", "appropriate shocks", "sudden cardiac death"]),
        ],
        "test": ["transthoracic echocardiography", "cardiac magnetic resonance imaging", "24-hour Holter monitoring",
                 "invasive coronary angiography", "cardiopulmonary exercise testing", "coronary CT angiography"],
        "adverse": ["major bleeding", "symptomatic bradycardia", "access-site complications", "hyperkalaemia",
                    "pericardial effusion", "worsening renal function"],
        "term": ["vulnerable phase", "door-to-balloon time", "silent atrial fibrillation", "guideline-directed therapy"],
    },
    "oncology": {
        "clusters": [
            (["stage III non-small cell lung cancer", "EGFR-mutant lung adenocarcinoma"],
             ["osimertinib", "durvalumab consolidation", "stereotactic body radiotherapy", "a platinum doublet"],
             ["progression-free survival", "overall survival", "local control at two years"]),
            (["triple-negative breast cancer", "HER2-positive early breast cancer"],
             ["neoadjuvant chemotherapy", "pembrolizumab plus chemotherapy", "an antibody-drug conjugate",
              "dose-dense anthracycline chemotherapy"],
             ["pathological complete response", "event-free survival", "disease-free survival"]),
            (["metastatic colorectal cancer", "locally advanced rectal cancer"],
             ["total neoadjuvant therapy", "short-course radiotherapy", "an anti-EGFR antibody", "FOLFOX chemotherapy"],
             ["overall survival", "circulating tumour DNA clearance", "clinical complete response",
              "organ preservation at three years"]),
            (["diffuse large B-cell lymphoma", "acute myeloid leukaemia"],
             ["CAR T-cell therapy", "intensive induction chemotherapy", "a venetoclax-based regimen"],
             ["complete remission rate", "minimal residual disease negativity", "overall survival"]),
            (["high-grade serous ovarian cancer", "metastatic castration-resistant prostate cancer"],
             ["PARP inhibitor maintenance", "an androgen receptor inhibitor", "radioligand therapy"],
             ["progression-free survival", "PSA response", "time to treatment failure"]),
            (["unresectable cutaneous melanoma", "advanced renal cell carcinoma"],
             ["nivolumab plus ipilimumab", "anti-PD-1 monotherapy", "a BRAF-MEK inhibitor combination"],
             ["objective response rate", "duration of response", "overall survival"]),
        ],
        "test": ["FDG PET-CT", "next-generation sequencing of tumour tissue", "core needle biopsy",
                 "PD-L1 immunohistochemistry", "RECIST 1.1 assessment", "liquid biopsy"],
        "adverse": ["grade 3 or higher neutropenia", "immune-related colitis", "cytokine release syndrome",
                    "radiation pneumonitis", "febrile neutropenia", "peripheral neuropathy"],
        "term": ["oligometastatic disease", "minimal residual disease", "hyperprogression", "watch-and-wait"],
    },
    "neurology": {
        "clusters": [
            (["relapsing-remitting multiple sclerosis", "clinically isolated syndrome"],
             ["an anti-CD20 infusion", "early high-efficacy therapy", "autologous stem cell transplantation"],
             ["annualised relapse rate", "new T2 lesions on MRI", "disability progression"]),
            (["early Parkinson's disease", "advanced Parkinson's disease", "essential tremor"],
             ["deep brain stimulation", "focused ultrasound thalamotomy", "a structured exercise program"],
             ["MDS-UPDRS part III score", "tremor rating scale score", "daily off time"]),
            (["drug-resistant focal epilepsy", "newly diagnosed epilepsy"],
             ["responsive neurostimulation", "vagus nerve stimulation", "levetiracetam monotherapy",
              "epilepsy surgery"],
             ["monthly seizure frequency", "seizure freedom at one year", "quality of life in epilepsy scores"]),
            (["acute ischaemic stroke", "large-vessel occlusion stroke"],
             ["mechanical thrombectomy", "intravenous tenecteplase", "early physiotherapy after stroke"],
             ["modified Rankin Scale score at 90 days", "time to independent walking", "early neurological improvement"]),
            (["episodic migraine", "chronic migraine"],
             ["an anti-CGRP monoclonal antibody", "onabotulinumtoxinA injections", "a behavioural sleep program"],
             ["monthly migraine days", "acute medication use", "headache-related disability"]),
            (["amyotrophic lateral sclerosis", "generalised myasthenia gravis", "Guillain-Barre syndrome",
              "mild cognitive impairment"],
             ["intravenous immunoglobulin", "home-based cognitive training", "plasma exchange", "an FcRn antagonist"],
             ["ALSFRS-R decline", "Montreal Cognitive Assessment score", "time to independent walking",
              "activities of daily living score"]),
        ],
        "test": ["brain MRI", "video EEG monitoring", "lumbar puncture", "nerve conduction studies",
                 "CT perfusion imaging", "dopamine transporter imaging"],
        "adverse": ["symptomatic intracranial haemorrhage", "infusion reactions", "transient paraesthesia",
                    "somnolence", "lead-related infection", "mood changes"],
        "term": ["time is brain", "wearing-off", "no evidence of disease activity", "medication-overuse headache"],
    },
    "gastroenterology": {
        "clusters": [
            (["moderate-to-severe ulcerative colitis", "ileocolonic Crohn's disease", "perianal Crohn's disease"],
             ["vedolizumab", "ustekinumab", "early anti-TNF therapy", "a JAK inhibitor"],
             ["endoscopic remission at week 52", "total Mayo score", "mucosal healing", "faecal calprotectin",
              "steroid-free remission"]),
            (["metabolic dysfunction-associated steatohepatitis", "compensated cirrhosis"],
             ["intensive lifestyle intervention", "a GLP-1 receptor agonist", "a thyroid hormone receptor agonist"],
             ["liver stiffness", "fibrosis stage on biopsy", "liver fat content"]),
            (["decompensated cirrhosis", "acute variceal bleeding", "acute upper gastrointestinal bleeding"],
             ["endoscopic variceal ligation", "a transjugular intrahepatic portosystemic shunt",
              "early endoscopy within 12 hours"],
             ["rebleeding within 30 days", "six-week mortality", "length of hospital stay"]),
            (["refractory gastro-oesophageal reflux disease", "eosinophilic oesophagitis", "Barrett's oesophagus"],
             ["high-dose proton pump inhibitor therapy", "budesonide orodispersible tablets", "radiofrequency ablation",
              "a six-food elimination diet"],
             ["peak eosinophil count", "symptom-free days", "complete eradication of intestinal metaplasia"]),
            (["irritable bowel syndrome with diarrhoea", "coeliac disease"],
             ["a low-FODMAP diet", "dietitian-led gluten-free diet counselling", "gut-directed hypnotherapy"],
             ["IBS symptom severity score", "villous atrophy on repeat biopsy", "abdominal pain scores"]),
            (["acute pancreatitis", "recurrent Clostridioides difficile colitis"],
             ["early oral refeeding", "goal-directed fluid resuscitation", "faecal microbiota transplantation"],
             ["length of hospital stay", "organ failure", "recurrence within eight weeks"]),
        ],
        "test": ["ileocolonoscopy", "upper endoscopy", "transient elastography", "capsule endoscopy",
                 "liver biopsy", "oesophageal pH-impedance monitoring"],
        "adverse": ["hepatic encephalopathy", "post-procedural pain", "opportunistic infections", "bloating",
                    "oesophageal stricture", "arthralgia"],
        "term": ["treat-to-target", "gut-brain axis", "steroid-free remission", "refeeding syndrome"],
    },
    "infectious_disease": {
        "clusters": [
            (["community-acquired pneumonia", "complicated urinary tract infection"],
             ["a five-day antibiotic course", "procalcitonin-guided antibiotic stewardship",
              "early oral step-down therapy"],
             ["clinical cure at the test-of-cure visit", "antibiotic days of therapy", "30-day readmission"]),
            (["Staphylococcus aureus bacteraemia", "prosthetic joint infection"],
             ["early oral step-down therapy", "outpatient parenteral antimicrobial therapy",
              "infectious diseases consultation"],
             ["90-day mortality", "treatment failure at 12 weeks", "relapse of infection"]),
            (["HIV-1 infection", "chronic hepatitis C"],
             ["long-acting injectable cabotegravir", "same-day antiretroviral initiation", "sofosbuvir-velpatasvir"],
             ["viral suppression below 50 copies/mL", "sustained virologic response", "retention in care"]),
            (["rifampicin-resistant pulmonary tuberculosis", "drug-susceptible pulmonary tuberculosis"],
             ["a bedaquiline-containing regimen", "a four-month rifapentine regimen", "video-observed therapy"],
             ["sputum culture conversion at eight weeks", "treatment success at 12 months", "loss to follow-up"]),
            (["uncomplicated Plasmodium falciparum malaria", "dengue fever"],
             ["artemisinin-based combination therapy", "single low-dose primaquine", "early fluid management"],
             ["parasite clearance time", "time to defervescence", "progression to severe disease"]),
            (["respiratory syncytial virus infection", "Clostridioides difficile infection", "cryptococcal meningitis"],
             ["nirsevimab prophylaxis", "fidaxomicin", "single-dose liposomal amphotericin B"],
             ["medically attended infection", "recurrence within eight weeks", "28-day mortality"]),
        ],
        "test": ["blood cultures", "multiplex PCR testing", "sputum smear microscopy", "rapid antigen testing",
                 "antimicrobial susceptibility testing", "whole-genome sequencing of isolates"],
        "adverse": ["QT prolongation", "injection-site reactions", "nephrotoxicity", "diarrhoea", "rash",
                    "elevated liver enzymes"],
        "term": ["antimicrobial stewardship", "test-and-treat", "undetectable equals untransmittable", "source control"],
    },
}

MED_COMMON = {
    "population": ["older adults", "adults over 65 years", "women of reproductive age", "people living in rural areas",
                   "patients with chronic kidney disease", "adolescents and young adults", "patients with diabetes",
                   "patients in low-income settings", "a multi-ethnic urban population", "frail inpatients"],
    "burden": ["hospital admission", "disability", "premature death", "health-care expenditure", "lost working days"],
    "design": ["randomised controlled trial", "prospective cohort study", "multicentre registry analysis",
               "open-label pragmatic trial", "retrospective cohort study", "single-centre observational study",
               "phase 2 trial", "cluster-randomised trial", "target trial emulation"],
    "comparator": ["standard care", "placebo", "usual care", "a delayed-start strategy", "guideline-based management",
                   "an active control"],
    "qualifier": ["", "", " and largely observational", ", particularly outside clinical trials",
                  " in routine practice", ", and guidelines differ"],
    "quote": ["much easier than expected", "worth the extra visits", "exhausting at first", "life-changing",
              "confusing, but manageable", "better than before"],
}
MED_COUNTRIES = ["Norway", "Brazil", "Japan", "Canada", "Kenya", "Spain", "India", "Australia", "Chile",
                 "the Netherlands", "Ghana", "Portugal"]

MED_BACKGROUND = [
    "{cond_cap} remains a leading cause of {burden} among {population}.",
    "Evidence on {tx} in patients with {cond} is limited{qualifier}.",
    "We aimed to assess whether {tx} improves {outcome} in adults with {cond}.",
    "Little is known about {outcome} after {tx} among {population} with {cond}.",
    "The optimal timing of {tx} for {cond} is uncertain.",
    "Whether {tx} is cost-effective for {cond} in {country} has not been established.",
    "{cond_cap} is increasingly diagnosed in {population}, yet treatment patterns vary widely.",
    "Real-world data on {tx} for {cond} are scarce{qualifier}.",
    "This study evaluated a \"{term}\" approach to {cond}.",
    "Clinicians often rely on {test} to guide decisions in {cond}, but its prognostic value is debated.",
]
MED_METHODS = [
    "In this {design} of {n} patients at {sites} centres, participants received {tx} or {comparator}.",
    "We retrospectively reviewed {n} consecutive cases of {cond} treated between {y1} and {y2}.",
    "Patients underwent {test} at baseline and again at {fu} months.",
    "The primary endpoint was {outcome}; secondary endpoints included {outcome2} and safety.",
    "Eligible adults were randomly assigned 1:1 to {tx} or {comparator} and followed for {fu} months.",
    "We linked national registry data from {country} covering {n} patients with {cond}.",
    "A total of {n} participants (median age {age} years, {female}% women) were enrolled in this {design}.",
    "Outcomes were compared using propensity-score matching on {k} baseline covariates.",
]
MED_RESULTS = [
    "{outcome_cap} improved in {pct}% of patients receiving {tx}, compared with {pct2}% with {comparator} (p = {p_sig}).",
    "Compared with {comparator}, {tx} improved {outcome} (adjusted hazard ratio {hr}; 95% CI {lo}-{hi}).",
    "Median follow-up was {fu} months, and {k} patients ({pct}%) experienced {adverse}.",
    "No significant difference in {outcome} was observed between groups (p = {p_ns}).",
    "{tx_cap} was associated with better {outcome} (odds ratio {hr}; 95% CI {lo} to {hi}), while {adverse} occurred in {pct}% of patients.",
    "At {fu} months, {outcome} favoured the intervention arm, although {adverse} was more frequent.",
    "Among {n} patients analysed, {pct}% met the primary endpoint versus {pct2}% in the control group.",
    "Patients described the treatment as \"{quote}\" in follow-up interviews, and adherence was {pct3}%.",
]
MED_CONCLUSIONS = [
    "{tx_cap} appears safe and may improve {outcome} in {cond}.",
    "These findings support {tx} as an early option, although larger trials are needed.",
    "Routine {test} may help identify patients most likely to benefit.",
    "In {cond}, {tx} did not clearly improve {outcome}, and its routine use cannot yet be recommended.",
    "Further work should examine {outcome} in {population}.",
    "Our results suggest that {tx} could be delivered safely in {country} and similar health systems.",
]


def medical_abstract(rng, topic):
    spec = MED_TOPICS[topic]
    conds, txs, outcomes = rng.choice(spec["clusters"])
    banks = dict(MED_COMMON)
    banks.update({"test": spec["test"], "adverse": spec["adverse"], "term": spec["term"], "outcome": outcomes})
    hr = rng.uniform(0.48, 0.9)
    lo = hr - rng.uniform(0.06, 0.2)
    hi = min(hr + rng.uniform(0.05, 0.2), 0.98)
    pct = rng.randint(12, 68)
    numbers = {
        "n": str(rng.choice([rng.randint(40, 400), rng.randint(400, 9000)])),
        "sites": str(rng.randint(2, 48)), "y1": str(rng.randint(2009, 2016)), "y2": str(rng.randint(2018, 2025)),
        "fu": str(rng.choice([3, 6, 12, 18, 24, 36, 48])), "age": str(rng.randint(34, 79)),
        "female": str(rng.randint(18, 72)), "k": str(rng.randint(3, 60)), "pct": str(pct),
        "pct2": str(max(3, pct - rng.randint(5, 25))), "pct3": str(rng.randint(61, 97)),
        "p_sig": rng.choice(["0.001", "0.003", "0.008", "0.02", "0.04"]),
        "p_ns": rng.choice(["0.09", "0.12", "0.27", "0.38", "0.61", "0.84"]),
        "hr": f"{hr:.2f}", "lo": f"{max(lo, 0.2):.2f}", "hi": f"{hi:.2f}",
    }
    banks.update({k: [v] for k, v in numbers.items()})
    f = Filler(rng, banks)
    # One condition, intervention, outcome and country per abstract so the sentences agree.
    fixed = {"cond": rng.choice(conds), "tx": rng.choice(txs), "outcome": rng.choice(outcomes),
             "country": rng.choice(MED_COUNTRIES)}
    for key in ("cond", "tx", "outcome"):
        fixed[key + "_cap"] = cap(fixed[key])
    parts = [rng.choice(MED_BACKGROUND)]
    if rng.random() < 0.75:
        parts.append(rng.choice(MED_METHODS))
    parts.append(rng.choice(MED_RESULTS))
    if rng.random() < 0.6 or len(parts) < 3:
        parts.append(rng.choice(MED_CONCLUSIONS))
    return " ".join(f.fill(p, fixed) for p in parts)


def make_medical(rng, out):
    topics = list(MED_TOPICS)
    seen = set()
    rows = []

    def fresh(topic):
        while True:
            text = medical_abstract(rng, topic)
            if text not in seen:
                seen.add(text)
                return text

    for i in range(350):
        topic = topics[i % len(topics)]
        rows.append([topic, fresh(topic)])
    rng.shuffle(rows)
    csv_rows = []
    for i, (topic, text) in enumerate(rows, 1):
        label = topic if rng.random() >= 0.4 else ""
        csv_rows.append({"id": f"abs-{i:04d}", "text": text, "label": label})
    # Two abstracts with a line break inside the quoted field (a pasted section break).
    for r in (csv_rows[17], csv_rows[211]):
        sentences = r["text"].split(". ", 1)
        if len(sentences) == 2:
            r["text"] = sentences[0] + ".\n" + sentences[1]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["id", "text", "label"], lineterminator="\r\n")
    w.writeheader()
    w.writerows(csv_rows)
    write_text(os.path.join(out, "medical/abstract_topics/abstracts.csv"), buf.getvalue())

    json_rows = []
    for i in range(60):
        topic = topics[i % len(topics)]
        row = {"id": f"abs-j{i + 1:03d}", "text": fresh(topic)}
        r = rng.random()
        if r < 0.2:
            row["label"] = None
        elif r < 0.4:
            pass  # no label key at all
        else:
            row["label"] = topic
        json_rows.append(row)
    rng.shuffle(json_rows)
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in json_rows).encode("utf-8")
    path = os.path.join(out, "medical/abstract_topics/more_abstracts.jsonl.gz")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(payload)
    return csv_rows, json_rows


# ---------------------------------------------------------------------------
# Banking intents (TSV)
# ---------------------------------------------------------------------------

BANK_SLOTS = {
    "card": ["card", "debit card", "credit card", "Visa card", "Mastercard", "virtual card", "physical card",
             "metal card", "business card", "joint account card"],
    "when": ["yesterday", "this morning", "last night", "two days ago", "on Friday", "an hour ago", "last week",
             "over the weekend", "earlier today", "on my way home"],
    "place": ["at the station", "in a taxi", "at the gym", "on holiday in Lisbon", "at a bar", "on the bus",
              "somewhere in the airport", "at the supermarket", "at a concert"],
    "days": ["5 days", "a week", "ten days", "two weeks", "over a week", "8 working days", "nearly three weeks"],
    "code": ["EUR", "USD", "GBP", "CHF", "PLN", "JPY", "SEK", "CAD", "AUD", "NOK", "HUF"],
    "cur": ["EUR", "USD", "GBP", "CHF", "PLN", "JPY", "SEK", "CAD", "AUD", "euros", "dollars", "pounds"],
    "person": ["my landlord", "my sister", "a friend", "my mum", "a supplier", "my flatmate", "Tomasz", "Aisha",
               "my accountant", "the school"],
    "merchant": ["an online shop", "Brightmart", "a hotel in Rome", "the airline", "a furniture store",
                 "Velo Rentals", "a restaurant", "a concert ticket site", "my phone provider", "Corner Books"],
    "method": ["Apple Pay", "Google Pay", "my bank card", "a bank transfer", "cash at a shop", "my credit card",
               "the linked debit card"],
    "country": ["Spain", "Mexico", "Thailand", "the US", "Poland", "Japan", "Turkey", "Canada", "Morocco"],
    "reason": ["I'm moving abroad", "I opened an account with another bank", "I don't use it any more",
               "the fees are too high", "I have too many accounts", "I'm not happy with the service",
               "my partner and I are merging our finances"],
    "hi": ["", "", "", "Hi, ", "Hello, ", "Hey, ", "Good morning, ", "Quick question: ", "Help! ", "Sorry to bother you, "],
    "bye": ["", "", "", "", " Thanks.", " Thank you!", " Please help.", " Any idea?", " Cheers.", " This is urgent."],
}


def random_amount(rng):
    """A money amount as people type it: round numbers, odd ones, sometimes with cents."""
    r = rng.random()
    if r < 0.4:
        return str(rng.choice([20, 25, 40, 50, 60, 75, 100, 150, 200, 250, 300, 500, 1000, 1200]))
    if r < 0.8:
        return str(rng.randint(5, 2500))
    return f"{rng.randint(5, 900)}.{rng.randint(0, 99):02d}"


BANK_INTENTS = {
    "card_lost": [
        "I can't remember where I put my {card}, can you block it until I find it?",
        "Is it possible to freeze my {card} temporarily? I think I lost it {place}.",
        "My {card} was taken {place} {when}. Please send me a replacement.",
        "Lost my {card} {when} while travelling in {country}, what now?",
        "I lost my {card} {when}, what should I do?",
        "My {card} was stolen {place}. Can you freeze it?",
        "I think I left my {card} {place} and now I can't find it.",
        "How do I report a lost {card}?",
        "Someone took my wallet {when} with my {card} in it.",
        "can't find my {card} anywhere, please block it",
        "My {card} went missing {when}, I'm worried someone might use it.",
        "What happens to my money if my {card} gets stolen?",
        "I dropped my {card} {place}. Do I need a new one?",
        "Need to cancel my {card}, I lost it {place}.",
        "My bag was stolen {when} and the {card} was inside.",
    ],
    "card_arrival": [
        "I'm in {country} for {days}, can my new {card} be sent there?",
        "It's been {days} since I ordered the {card}, is it lost in the post?",
        "My friend got her {card} in {days} but mine still hasn't arrived.",
        "The tracking for my {card} hasn't updated for {days}.",
        "I ordered a new {card} {days} ago and it still hasn't arrived.",
        "When will my {card} be delivered?",
        "Is there a way to track my {card}?",
        "My {card} hasn't come yet, it's been {days}.",
        "How long does it take for the {card} to arrive in {country}?",
        "still waiting for my {card}... any update?",
        "The app says my {card} was shipped but nothing came in the post.",
        "Can you tell me the delivery status of my replacement {card}?",
        "I moved house, will my {card} go to the old address?",
        "Does the {card} come by courier or regular mail?",
    ],
    "transfer_failed": [
        "I sent {amount} {cur} to {person} {when} and got a failed notification.",
        "Why does my transfer to {country} keep failing? It's {amount} {cur}.",
        "The payment to {person} shows as failed but the {amount} {cur} is gone from my balance.",
        "My transfer of {amount} {cur} to {person} failed.",
        "Why did my bank transfer get declined?",
        "I tried to send {amount} {cur} to {person} and it says the payment failed.",
        "The transfer to {person} bounced back, what went wrong?",
        "Payment to {person} keeps failing, I've tried three times.",
        "I sent money {when} but it was returned to my account.",
        "transfer failed again?? it just says error",
        "Why was my international transfer to {country} rejected?",
        "{person_cap} says they never got the {amount} {cur} and the app shows the transfer as failed.",
        "What does 'transfer could not be completed' mean?",
        "My SEPA transfer of {amount} {cur} was cancelled without any explanation.",
    ],
    "exchange_rate": [
        "If I pay {amount} {cur} in {country}, how much will that cost me in {cur2}?",
        "Why did I get a different rate for {cur} {when} than the one shown in the app?",
        "Is there a markup on the {code} to {code2} rate?",
        "What exchange rate do you use for {cur} to {cur2}?",
        "How much is {amount} {cur} in {cur2} today?",
        "Why was the exchange rate on my payment in {country} so bad?",
        "Do you charge extra for converting {cur} to {cur2} on weekends?",
        "Is the rate in the app the same as the interbank rate?",
        "I paid {merchant} in {cur} and the rate seems off.",
        "what's the current {code}/{code2} rate",
        "How often does the exchange rate get updated?",
        "Will I get a better rate if I exchange {cur} before travelling to {country}?",
        "The conversion from {cur} to {cur2} gave me less than expected.",
    ],
    "refund_request": [
        "I'm still waiting for {merchant} to refund {amount} {cur}, it's been {days}.",
        "{merchant_cap} approved my refund {when}. When will I see the money?",
        "How do I request a refund for a payment of {amount} {cur} I didn't authorise?",
        "How do I get a refund from {merchant}?",
        "I returned an item to {merchant} {days} ago and still no refund.",
        "{merchant_cap} charged me {amount} {cur} twice, can I get my money back?",
        "I was promised a refund of {amount} {cur} but it hasn't shown up.",
        "Can you help me dispute a charge from {merchant}?",
        "I cancelled my order with {merchant}, where is my refund?",
        "The refund from {merchant} is stuck as pending.",
        "how long do refunds take to appear on my {card}?",
        "I want my money back for a purchase I never received from {merchant}.",
        "{merchant_cap} says they refunded me {when} but I can't see it.",
    ],
    "account_closing": [
        "I want to close my account because {reason}.",
        "Please delete my account, {reason}.",
        "How do I close my account if {reason}?",
        "I'm leaving because {reason}. How do I shut down my account?",
        "Can you close my account and send my {amount} {cur} balance to my other bank?",
        "What do I need to do to close a joint account with {person}?",
        "How do I close my account?",
        "I want to delete my account and withdraw my remaining balance.",
        "Please close my account, I'm moving to {country}.",
        "Can I close my account from the app?",
        "What happens to my savings if I close my account?",
        "I'd like to terminate my account permanently.",
        "close account pls",
        "Is there a fee for closing my account?",
        "I no longer need this account, how do I cancel it?",
        "Can I reopen my account later if I close it now?",
    ],
    "top_up_failed": [
        "Tried to top up {amount} {cur} {when} with {method} and it was declined.",
        "Why is my {method} top-up still pending after {days}?",
        "My top-up from {country} failed, does that work abroad?",
        "My top-up with {method} didn't work.",
        "I tried to top up {amount} {cur} but it failed.",
        "Why was my top-up declined {when}?",
        "Top up keeps failing with {method}, what's wrong?",
        "I added money with {method} but the balance didn't change.",
        "The top-up of {amount} {cur} was reversed, why?",
        "topping up doesn't work at all today",
        "My card top-up says 'failed' but the money left my other bank.",
        "Can't add funds to my account using {method}.",
        "Why can't I top up from my {card}?",
    ],
    "pin_blocked": [
        "My PIN got blocked {place} {when}, what should I do?",
        "I'm in {country} and my PIN is blocked, can you help?",
        "The card reader {place} said my PIN is locked after I entered it wrong.",
        "My PIN is blocked, how do I unblock it?",
        "I entered the wrong PIN three times and now my {card} is blocked.",
        "How can I reset my PIN?",
        "The ATM says my PIN is locked.",
        "I forgot my PIN and now I can't pay {place}.",
        "pin blocked after too many attempts, help",
        "Can I unblock my PIN in the app or do I need to go to an ATM?",
        "My {card} got declined because the PIN is blocked.",
        "Where can I see my PIN? I typed it wrong and it's locked now.",
        "How long until my blocked PIN resets?",
    ],
}


LOWER_AFTER_GREETING = {"What", "Why", "How", "When", "My", "Can", "Is", "The", "Does", "Do", "Where", "Will",
                        "Someone", "Payment", "Top", "Please", "Need", "Transfer", "Close", "Still"}


def make_banking(rng, out):
    banks = dict(BANK_SLOTS)
    banks["amount"] = lambda: random_amount(rng)
    f = Filler(rng, banks)
    rows = []
    seen = set()
    intents = list(BANK_INTENTS)
    for i in range(352):
        intent = intents[i % len(intents)]
        for _ in range(50):
            body = f.fill(rng.choice(BANK_INTENTS[intent]))
            hi = rng.choice(BANK_SLOTS["hi"])
            if hi.endswith((", ", ": ")) and body.split(" ", 1)[0] in LOWER_AFTER_GREETING:
                body = body[0].lower() + body[1:]
            bye = rng.choice(BANK_SLOTS["bye"]) if body[-1] in ".?!" else ""
            text = (hi + body + bye).strip()
            if rng.random() < 0.12:  # typed in a hurry
                text = text.lower().rstrip(".?!")
            key = " ".join(re.findall(r"[a-z0-9']+", body.lower()))
            if key not in seen:
                seen.add(key)
                break
        rows.append((text, intent))
    rng.shuffle(rows)
    lines = ["text\tlabel"]
    labelled = []
    for text, intent in rows:
        label = intent if rng.random() >= 0.4 else ""
        labelled.append(label)
        assert "\t" not in text and "\n" not in text
        lines.append(f"{text}\t{label}")
    write_text(os.path.join(out, "financial/banking_intents/queries.tsv"), "\n".join(lines) + "\n")
    return [(t, l) for (t, _), l in zip(rows, labelled)]


# ---------------------------------------------------------------------------
# Terms-of-service clauses (parallel sentences/tags files + manifest)
# ---------------------------------------------------------------------------

# (service, company, governing law, courts, what users keep there)
SERVICES = [
    ("Nimbusnote", "Nimbus Labs Inc.", "Delaware", "Wilmington", ["notes", "files", "notebooks"]),
    ("Brightloop", "Brightloop Media Ltd", "England and Wales", "London", ["posts", "photos", "videos"]),
    ("Parcelly", "Parcelly GmbH", "Germany", "Munich", ["files", "documents", "shared folders"]),
    ("TuneHarbor", "TuneHarbor, Inc.", "California", "San Francisco", ["playlists", "reviews", "uploaded tracks"]),
    ("Quillstream", "Quillstream B.V.", "the Netherlands", "Amsterdam", ["posts", "drafts", "comments"]),
    ("Fitwell", "Fitwell Health Corp.", "New York", "New York County", ["workout logs", "health data", "photos"]),
    ("Roamly", "Roamly Travel S.L.", "Spain", "Barcelona", ["itineraries", "reviews", "travel photos"]),
    ("Sparkcart", "Sparkcart Commerce Pty Ltd", "New South Wales", "Sydney", ["product listings", "store pages", "reviews"]),
]
TOS_NAMES = ["these terms", "these Terms", "these Terms of Service", "these Terms of Use", "the {svc} Terms",
             "these User Terms"]

TOS_SLOTS = {
    "feature": ["sync across devices", "shared workspaces", "offline access", "the recommendation feed",
                "premium templates", "the mobile app", "the browser extension", "public profiles"],
    "days": ["14", "30", "thirty", "sixty", "7", "fifteen"],
    "age": ["13", "16", "18"],
    "channel": ["email", "an in-app notification", "a message in your account inbox", "post to your registered address"],
    "support": ["support@", "help@", "legal@", "privacy@"],
    "fee": ["monthly", "annually", "quarterly", "yearly"],
    "thing": ["software", "website", "app", "platform", "service"],
}

# Each entry: (section, template, tags). Tags use the CLAUDETTE scheme:
# a = arbitration, ch = unilateral change, cr = content removal, j = jurisdiction,
# law = choice of law, ltd = limitation of liability, ter = unilateral termination,
# use = contract by using; 1 = fair, 2 = potentially unfair, 3 = clearly unfair.
TOS_CLAUSES = [
    # Introduction and acceptance.
    ("intro", "{terms_cap} govern your [use of|access to and use of] the {svc} {thing} operated by {co}.", ""),
    ("intro", "Please read {terms} carefully before [creating an account|using {svc}|you start using the {thing}|you subscribe].", ""),
    ("intro", "In {terms}, \"we\", \"us\" and \"our\" refer to {co}, and \"you\" refers to [the person using {svc}|you, the user|any person who registers for an account].", ""),
    ("intro", "If you do not agree with {terms}, please do not [use|sign up for|install] {svc}.", ""),
    ("intro", "By [accessing or using|visiting, downloading or using] {svc} in any way, you agree to be bound by {terms} and all policies referenced in them.", "use2"),
    ("intro", "Your continued use of the {thing} [constitutes|will be deemed] acceptance of {terms}, whether or not you have read them.", "use2"),
    ("intro", "By [downloading the app|opening the {thing}|browsing our website] you accept {terms} in full.", "use2"),
    ("intro", "You will be asked to accept {terms} when you sign up, and you can [download|print|request] a copy at any time.", ""),
    ("intro", "[{terms_cap} were last updated on|Last updated:|This version of the terms applies from] {date}.", ""),
    ("intro", "A [plain-language summary|short summary] of the key points is available in our help centre, but {terms} are the binding version.", ""),
    # Accounts.
    ("account", "You must be at least {age} years old to [create an account|use {svc}|register].", ""),
    ("account", "You are responsible for keeping your [password|login details|credentials] confidential and for all activity under your account.", ""),
    ("account", "Please [notify us promptly|tell us as soon as possible|contact us immediately] at {support}{domain} if you suspect unauthorised access to your account.", ""),
    ("account", "You may only [create|hold|register] one personal account, and the information you provide must be [accurate|accurate and up to date|truthful].", ""),
    ("account", "[Business|Team] accounts can add [members|colleagues], who must each accept {terms}.", ""),
    ("account", "You can change your [username|display name] and email address in your account settings.", ""),
    ("account", "If you sign in with [a third-party login|your Google or Apple account|a social media account], that provider's terms also apply to [the sign-in process|how you log in].", ""),
    # Service description.
    ("service", "{svc} lets you [store, organise and share|create, save and share|collect and publish] {content} with people you choose.", ""),
    ("service", "Some features, such as {feature}, are only available on paid plans.", ""),
    ("service", "We [work hard|try] to keep {svc} available, but [scheduled maintenance|planned maintenance and updates] may occasionally interrupt access.", ""),
    ("service", "We may introduce new features, including {feature}, and {terms} will apply to them.", ""),
    ("service", "[Beta|Experimental] features are offered for testing and may change before general release.", ""),
    ("service", "You can export your {content} at any time in a [commonly used|machine-readable|standard] format.", ""),
    ("service", "Our recommendations are generated automatically and do not constitute [professional|medical, legal or financial] advice.", ""),
    # Acceptable use.
    ("use", "You agree not to use {svc} to upload [unlawful, harassing or infringing|illegal, abusive or misleading] material.", ""),
    ("use", "You must not attempt to [reverse engineer, scrape or overload|disrupt, probe or reverse engineer] the {thing}.", ""),
    ("use", "You may not [resell|sublicense or resell] access to {svc} without our written permission.", ""),
    ("use", "Automated access [is permitted|to {svc} is allowed] only through our [published|public] API and within its rate limits.", ""),
    ("use", "You must not impersonate [another person|anyone else|any person or company] or misrepresent your affiliation with any organisation.", ""),
    ("use", "Do not share content that exposes another person's [private information|address, phone number or other personal data] without their consent.", ""),
    ("use", "Sending [unsolicited advertising|spam or chain messages] through {svc} is prohibited.", ""),
    # User content.
    ("content", "You [keep|retain] ownership of the {content} you upload to {svc}.", ""),
    ("content", "You grant us a limited licence to host and display your {content} solely to provide the service to you.", ""),
    ("content", "[We may remove any content at our|{co} may remove any content at its] sole discretion, [without notice and for any reason|at any time and without explanation].", "cr3"),
    ("content", "We reserve the right to [delete or disable|remove or hide] {content} that we consider [objectionable|inappropriate], without prior notice.", "cr2"),
    ("content", "{co} may refuse to publish, edit or remove user content at any time and without giving reasons.", "cr3"),
    ("content", "If we remove your {content} because [they breach|we believe they breach] {terms}, we will tell you why and how to appeal.", "cr1"),
    ("content", "We may take down [content|material] after receiving a valid notice of [infringement|copyright infringement], and we will inform the [uploader|person who posted it].", "cr1"),
    ("content", "Public {content} may be visible to anyone [on the internet|who visits {svc}|online, including search engines], so please [consider|think carefully about] what you share.", ""),
    ("content", "Deleted {content} are removed from our active systems within {days} days and from backups soon after.", ""),
    # Payments.
    ("payment", "Paid plans are billed {fee} in advance and renew automatically until cancelled.", ""),
    ("payment", "You can cancel your subscription at any time, and it will remain active until the end of the [billing period|current term].", ""),
    ("payment", "Prices [include|are shown including] [applicable taxes|VAT|sales tax where applicable] unless stated otherwise at checkout.", ""),
    ("payment", "We will notify you by {channel} at least {days} days before any price increase takes effect.", ""),
    ("payment", "If a payment fails, we will retry it [and may|up to three times and may then] downgrade your account to the free plan.", ""),
    ("payment", "We may change our prices at any time, and new prices apply from your next billing date without further notice.", "ch2"),
    ("payment", "[Consumers in the European Union|If you live in the EU or the UK, you] have a right to withdraw from a purchase within 14 days[| without giving a reason].", ""),
    ("payment", "All fees are non-refundable, including for partially used [periods|months], unless [the law requires otherwise|required by applicable law].", ""),
    # Changes.
    ("changes", "We may [modify|revise|update] {terms} at any time, and changes take effect immediately upon posting.", "ch2"),
    ("changes", "{co} reserves the right to [change, suspend or discontinue|modify or discontinue] any part of {svc} at any time without notice.", "ch2"),
    ("changes", "We may amend {terms} from time to time; it is your responsibility to [check this page|review {terms} regularly] for updates.", "ch2"),
    ("changes", "We may change the features of [paid plans|your subscription], including removing features, without [compensation|any refund or compensation].", "ch2"),
    ("changes", "If we make material changes, we will give you at least {days} days' notice by {channel}, and you may close your account before they apply.", "ch1"),
    ("changes", "We will explain the reason for any [significant|material] change to {terms} in the notice we send you[| by {channel}].", "ch1"),
    # Termination.
    ("termination", "We may suspend or terminate your account at any time, for any reason or no reason, [without notice|with or without notice].", "ter3"),
    ("termination", "{co} may terminate your access immediately if we believe, in our sole [judgement|discretion], that you have violated {terms}.", "ter2"),
    ("termination", "We may close inactive accounts after [twelve|eighteen|six] months without further notice.", "ter2"),
    ("termination", "We may [stop providing|withdraw] {svc} to you at any time, and we will have no obligation to store or return your {content}.", "ter3"),
    ("termination", "We may suspend your account if you [seriously|repeatedly or seriously] breach {terms}, and we will tell you why[| and how to contest the decision].", "ter1"),
    ("termination", "You can close your account at any time from your [settings page|account settings|profile menu].", ""),
    ("termination", "After termination, you will have {days} days to download your {content} before they are deleted.", ""),
    ("termination", "[Sections on ownership, liability and governing law|Provisions that by their nature should continue] survive the [end|termination] of this agreement.", ""),
    # Liability.
    ("liability", "The {thing} is provided \"as is\" and \"as available\" without warranties of any kind.", "ltd2"),
    ("liability", "To the [fullest|maximum] extent permitted by law, {co} shall not be liable for any indirect, incidental or consequential damages.", "ltd2"),
    ("liability", "In no event shall our total liability exceed [the amount you paid us in the {months} months before the claim|one hundred euros|fifty dollars].", "ltd2"),
    ("liability", "We are not responsible for any loss of data, {content} or profits, however caused.", "ltd3"),
    ("liability", "{co} is not liable for any damage resulting from [viruses, outages or unauthorised access to your account|interruptions, errors or security breaches].", "ltd2"),
    ("liability", "We are not responsible for the content, accuracy or availability of third-party websites linked from {svc}.", "ltd2"),
    ("liability", "[You use {svc} entirely at your own risk.|Your use of {svc} is at your sole risk.|You access the {thing} at your own risk.]", "ltd2"),
    ("liability", "We do not guarantee that {svc} will be [secure, error-free or uninterrupted|available at all times or free of errors].", "ltd2"),
    ("liability", "Nothing in {terms} [limits|excludes or limits] our liability for death or personal injury caused by our negligence, or for fraud[| or fraudulent misrepresentation].", "ltd1"),
    ("liability", "[We are|{co} is] responsible for foreseeable loss [caused by|that results from] our failure to comply with {terms}.", "ltd1"),
    ("liability", "You agree to indemnify {co} against claims arising from your breach of {terms}.", ""),
    # Disputes.
    ("disputes", "{terms_cap} are governed by the laws of {state}, without regard to conflict-of-law principles.", "law2"),
    ("disputes", "{terms_cap} are governed by the law of the country [where you live|in which you are habitually resident].", "law1"),
    ("disputes", "Any dispute arising [from|out of or in connection with] {terms} shall be resolved exclusively [in|by] the courts of {city}.", "j3"),
    ("disputes", "You agree to submit to the personal jurisdiction of the courts located in {city} for any claim.", "j3"),
    ("disputes", "If you are a consumer, you may bring [proceedings|a claim] in the courts of your place of residence[| as well as in {city}].", "j1"),
    ("disputes", "Any dispute [will be|shall be] resolved by binding individual arbitration, and you waive the right to [a jury trial or class action|participate in a class action or jury trial].", "a2"),
    ("disputes", "Disputes shall be finally settled by arbitration in {city} under the rules of a recognised arbitration body.", "a2 j3"),
    ("disputes", "{terms_cap} are governed by the laws of {state}, and disputes shall be brought only in the courts of {city}.", "law2 j3"),
    ("disputes", "Before filing a claim, please contact us at {support}{domain} so that we can try to resolve the issue informally.", ""),
    ("disputes", "EU consumers may also [use|refer disputes to] the European Commission's online dispute resolution platform.", ""),
    # General.
    ("general", "If any provision of {terms} is found unenforceable, the remaining provisions remain in [effect|full force and effect].", ""),
    ("general", "{terms_cap}, together with our Privacy Policy, form the entire agreement between you and {co}.", ""),
    ("general", "Our failure to enforce [a provision|any right or provision] is not a waiver of our right to do so later.", ""),
    ("general", "You may not [transfer|assign or transfer] your rights under {terms} without our [consent|prior written consent].", ""),
    ("general", "We may assign this agreement to [an affiliate|a successor|any third party] [or in connection with a merger|at any time] without your consent.", "ch2"),
    ("general", "Headings are for [convenience|reference] only and do not affect the [meaning|interpretation] of {terms}.", ""),
    ("general", "Questions about {terms} can be sent to {support}{domain}.", ""),
    ("general", "Our Privacy Policy explains how [we collect and use|{co} collects and uses|we process] your personal data.", ""),
    ("general", "Notices to you may be sent by {channel}.", ""),
]
TOS_SECTIONS = ["intro", "account", "service", "use", "content", "payment", "changes", "termination", "liability",
                "disputes", "general"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def make_tos(rng, out):
    by_section = collections.defaultdict(list)
    for section, template, tags in TOS_CLAUSES:
        by_section[section].append((template, tags))
    stats = []
    for svc, co, state, city, content in SERVICES:
        domain = svc.lower() + rng.choice([".com", ".io", ".app", ".eu"])
        banks = dict(TOS_SLOTS)
        terms = rng.choice(TOS_NAMES).replace("{svc}", svc)
        banks.update({"svc": [svc], "co": [co], "content": content, "terms": [terms], "state": [state], "city": [city], "domain": [domain],
                      "months": [rng.choice(["three", "six", "twelve"])],
                      "date": [f"{rng.randint(1, 28)} {rng.choice(MONTHS)} {rng.randint(2023, 2026)}"]})
        f = Filler(rng, banks)
        sentences, tags = [], []
        harsh = rng.random()  # how one-sided this service's terms are
        for section in TOS_SECTIONS:
            pool = list(by_section[section])
            keep = {0} if section == "intro" else set()  # every document opens with its scope sentence
            for k in rng.sample(range(len(pool)), len(pool)):
                if len(keep) >= max(2, round(len(pool) * 0.56)):
                    break
                unfair = bool(re.search(r"[23](\s|$)", pool[k][1]))
                if unfair and rng.random() > 0.45 + 0.35 * harsh:
                    continue
                keep.add(k)
            for template, tag in (pool[k] for k in sorted(keep)):  # sections keep their usual order
                s = f.fill(template)
                if s not in sentences:
                    sentences.append(s)
                    tags.append(tag)
        base = f"{svc}.txt"
        write_text(os.path.join(out, "legal/clause_fairness/sentences", base), "\n".join(sentences) + "\n")
        write_text(os.path.join(out, "legal/clause_fairness/tags", base), "\n".join(tags) + "\n")
        stats.append((svc, sentences, tags))
    manifest = """\
# kd corpus manifest for the legal demo corpus (see docs/ingest.md).
# clause_fairness: one terms-of-service sentence per line in sentences/<Service>.txt;
# line i of tags/<Service>.txt holds the CLAUDETTE-style tags of line i (empty = no tag).
# A tag ending in 2 (potentially unfair) or 3 (clearly unfair) makes the clause unfair.
# The tags folder is read only through labels_from, so it is not ingested as a corpus of its own.
domain: legal
files:
  - path: "clause_fairness/sentences/*.txt"
    format: lines
    task: clause_fairness
    labels_from: "clause_fairness/tags/{name}"
    label_separator: " "
    label_rules:
      - {match: "[23]$", label: unfair}
    default_label: fair
"""
    write_text(os.path.join(out, "legal/kd-corpus.yaml"), manifest)
    return stats


# ---------------------------------------------------------------------------
# EDGAR-style filings (HTML with hidden inline XBRL header)
# ---------------------------------------------------------------------------

FILING_STYLE = """<style type="text/css">
body { font-family: 'Times New Roman', serif; font-size: 10pt; }
.item { font-weight: bold; margin-top: 18pt; }
table.fin td { padding: 2pt 6pt; text-align: right; }
</style>"""
FILING_SCRIPT = """<script type="text/javascript">
// Viewer helper: highlights tagged facts on hover. Not part of the filing text.
document.addEventListener('DOMContentLoaded', function () {
  var facts = document.querySelectorAll('[name^="us-gaap:"]');
  for (var i = 0; i < facts.length; i++) { facts[i].title = facts[i].getAttribute('name'); }
});
</script>"""


def ix_header(cik, ticker, name, period_end, doc_type):
    return f"""<div style="display:none">
<ix:header>
<ix:hidden>
<ix:nonNumeric name="dei:EntityRegistrantName" contextRef="c-1">{name}</ix:nonNumeric>
<ix:nonNumeric name="dei:EntityCentralIndexKey" contextRef="c-1">{cik}</ix:nonNumeric>
<ix:nonNumeric name="dei:TradingSymbol" contextRef="c-1">{ticker}</ix:nonNumeric>
<ix:nonNumeric name="dei:DocumentType" contextRef="c-1">{doc_type}</ix:nonNumeric>
<ix:nonNumeric name="dei:AmendmentFlag" contextRef="c-1">false</ix:nonNumeric>
</ix:hidden>
<ix:references><link:schemaRef xlink:type="simple" xlink:href="{ticker.lower()}-20251231.xsd"></link:schemaRef></ix:references>
<ix:resources>
<xbrli:context id="c-1"><xbrli:entity><xbrli:identifier scheme="http://www.sec.gov/CIK">{cik}</xbrli:identifier></xbrli:entity>
<xbrli:period><xbrli:endDate>{period_end}</xbrli:endDate></xbrli:period></xbrli:context>
<xbrli:unit id="usd"><xbrli:measure>iso4217:USD</xbrli:measure></xbrli:unit>
</ix:resources>
</ix:header>
</div>"""


def filing_page(title, header, body):
    return f"""<html xmlns="http://www.w3.org/1999/xhtml" xmlns:ix="http://www.xbrl.org/2013/inlineXBRL" xmlns:xbrli="http://www.xbrl.org/2003/instance" xmlns:link="http://www.xbrl.org/2003/linkbase" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:dei="http://xbrl.sec.gov/dei/2024" xmlns:us-gaap="http://fasb.org/us-gaap/2024">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8"/>
<title>{title}</title>
{FILING_STYLE}
{FILING_SCRIPT}
</head>
<body>
{header}
{body}
</body>
</html>
"""


def make_filings(out):
    tenk_body = """<p style="text-align:center"><b>UNITED STATES<br/>SECURITIES AND EXCHANGE COMMISSION</b><br/>Washington, D.C. 20549</p>
<p style="text-align:center"><b>FORM 10-K</b></p>
<p style="text-align:center">ANNUAL REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934<br/>For the fiscal year ended December 31, 2025</p>
<p style="text-align:center"><b>Harborview Precision Instruments, Inc.</b><br/>(Exact name of registrant as specified in its charter)</p>
<p>Indicate by check mark whether the registrant is a large accelerated filer, an accelerated filer, a non-accelerated filer or a smaller reporting company. Smaller reporting company &#9746;</p>
<hr/>
<p class="item">PART I</p>
<p class="item">Item 1. Business</p>
<p>Harborview Precision Instruments, Inc. (&ldquo;Harborview,&rdquo; the &ldquo;Company,&rdquo; &ldquo;we&rdquo; or &ldquo;us&rdquo;) designs and manufactures optical flow meters and ultrasonic level sensors used by municipal water utilities, food processors and semiconductor fabrication plants. We were incorporated in Oregon in 2004 and reincorporated in Delaware in 2017. Our headquarters and principal manufacturing facility are located in Astoria, Oregon.</p>
<p>We sell our products through a direct sales force in North America and through independent distributors in Europe and Asia. In fiscal 2025, sales to water utilities accounted for approximately 46% of net revenue, food and beverage customers for 31% and semiconductor customers for 18%. No single customer accounted for more than 9% of net revenue.</p>
<p>Our engineering team of 112 employees focuses on sensor accuracy in low-flow conditions, firmware that supports remote calibration, and housings rated for continuous submersion. We hold 37 issued United States patents, the earliest of which expires in 2027.</p>
<p>As of December 31, 2025, we had 641 full-time employees, none of whom are represented by a labor union. We consider our relations with our employees to be good.</p>
<p class="item">Item 1A. Risk Factors</p>
<p>An investment in our common stock involves a high degree of risk. You should carefully consider the risks described below together with the other information in this report.</p>
<p><i>We depend on a limited number of suppliers for specialty glass and piezoelectric components.</i> Two suppliers provide substantially all of the sapphire windows used in our optical meters. An interruption at either supplier could delay shipments for several months, and qualifying an alternative source would require extensive testing.</p>
<p><i>Municipal budgets are cyclical.</i> A large share of our revenue comes from public water utilities whose capital spending depends on bond issuance and state grants. Delays in infrastructure funding could reduce orders or defer them to later periods.</p>
<p><i>Our international operations expose us to currency and trade risks.</i> Approximately 27% of our net revenue is denominated in euros or Japanese yen. Tariffs on imported electronic components increased our cost of goods sold in 2025 and may increase further.</p>
<p><i>Cybersecurity incidents could disrupt our operations.</i> Our connected sensors transmit data to customer networks, and a vulnerability in our firmware could expose customers to service interruptions and expose us to claims and reputational harm.</p>
<p class="item">Item 1B. Unresolved Staff Comments</p>
<p>None.</p>
<p class="item">PART II</p>
<p class="item">Item 7. Management&rsquo;s Discussion and Analysis of Financial Condition and Results of Operations</p>
<p>Net revenue for fiscal 2025 was $<ix:nonFraction name="us-gaap:Revenues" contextRef="c-1" unitRef="usd" decimals="-3" scale="3" format="ixt:num-dot-decimal">212,480</ix:nonFraction> thousand, an increase of 8.6% compared with fiscal 2024, driven primarily by higher unit volumes of ultrasonic level sensors and a full year of sales from our Rotterdam distribution center. Gross margin decreased to 41.2% from 43.0%, reflecting tariff-related component costs and start-up expenses for our second assembly line.</p>
<p>Operating expenses increased 5.1% to $71.9 million, mainly due to additional field application engineers. Net income was $<ix:nonFraction name="us-gaap:NetIncomeLoss" contextRef="c-1" unitRef="usd" decimals="-3" scale="3">14,236</ix:nonFraction> thousand, or $1.12 per diluted share.</p>
<table class="fin">
<tr><td style="text-align:left">(in thousands)</td><td>2025</td><td>2024</td></tr>
<tr><td style="text-align:left">Net revenue</td><td>212,480</td><td>195,654</td></tr>
<tr><td style="text-align:left">Gross profit</td><td>87,542</td><td>84,131</td></tr>
<tr><td style="text-align:left">Operating income</td><td>15,641</td><td>15,720</td></tr>
</table>
<p><i>Liquidity and capital resources.</i> At year end we held cash and cash equivalents of $38.4 million and had $25.0 million available under our revolving credit facility. We expect capital expenditures of approximately $11 million in 2026, primarily for automated calibration equipment. We believe existing cash and cash generated from operations will be sufficient to fund our operations for at least the next twelve months.</p>
<p class="item">Item 7A. Quantitative and Qualitative Disclosures About Market Risk</p>
<p>Not required for smaller reporting companies.</p>
<p class="item">Item 8. Financial Statements and Supplementary Data</p>
<p>The financial statements required by this item are included in a separate section of this report beginning on page F-1.</p>"""
    eightk_body = """<p style="text-align:center"><b>UNITED STATES<br/>SECURITIES AND EXCHANGE COMMISSION</b><br/>Washington, D.C. 20549</p>
<p style="text-align:center"><b>FORM 8-K</b></p>
<p style="text-align:center">CURRENT REPORT<br/>Pursuant to Section 13 or 15(d) of the Securities Exchange Act of 1934<br/>Date of Report (Date of earliest event reported): November 3, 2025</p>
<p style="text-align:center"><b>Larkspur Grid Storage Corp.</b><br/>(Exact name of registrant as specified in its charter)</p>
<hr/>
<p class="item">Item 1.01. Entry into a Material Definitive Agreement</p>
<p>On November 3, 2025, Larkspur Grid Storage Corp. (the &ldquo;Company&rdquo;) entered into a Supply Agreement with Pinecrest Electric Cooperative (&ldquo;Pinecrest&rdquo;) under which the Company will deliver and install battery energy storage systems with an aggregate capacity of 240 megawatt-hours at three substations in eastern Colorado. Deliveries are scheduled between the second quarter of 2026 and the first quarter of 2027.</p>
<p>The agreement provides for milestone payments totaling approximately $61.5 million, subject to adjustment for changes in cell prices above an agreed threshold. Pinecrest may terminate the agreement for convenience before the first delivery upon payment of a cancellation fee. The Company has agreed to performance guarantees covering round-trip efficiency and availability for ten years after commissioning.</p>
<p>The foregoing description is a summary and is qualified in its entirety by reference to the full text of the agreement, which the Company expects to file as an exhibit to its Annual Report on Form 10-K.</p>
<p class="item">Item 2.02. Results of Operations and Financial Condition</p>
<p>On November 4, 2025, the Company issued a press release announcing preliminary revenue for the quarter ended September 30, 2025 of $<ix:nonFraction name="us-gaap:Revenues" contextRef="c-1" unitRef="usd" decimals="-5" scale="6">48.7</ix:nonFraction> million, compared with $39.2 million for the same quarter of 2024. The information in this Item 2.02 shall not be deemed &ldquo;filed&rdquo; for purposes of Section 18 of the Exchange Act.</p>
<p class="item">Item 5.02. Departure of Directors or Certain Officers</p>
<p>On October 30, 2025, Dana Okafor informed the Board of Directors of her decision to retire as Chief Financial Officer, effective December 31, 2025. Ms. Okafor&rsquo;s decision was not the result of any disagreement with the Company on any matter relating to its operations, policies or practices. The Board has appointed Luis Marchetti, currently Vice President of Finance, to succeed her.</p>
<p class="item">Item 9.01. Financial Statements and Exhibits</p>
<table class="fin">
<tr><td style="text-align:left">Exhibit No.</td><td style="text-align:left">Description</td></tr>
<tr><td style="text-align:left">99.1</td><td style="text-align:left">Press release dated November 4, 2025</td></tr>
<tr><td style="text-align:left">104</td><td style="text-align:left">Cover Page Interactive Data File (embedded within the Inline XBRL document)</td></tr>
</table>
<p>Pursuant to the requirements of the Securities Exchange Act of 1934, the registrant has duly caused this report to be signed on its behalf by the undersigned hereunto duly authorized.</p>
<p>LARKSPUR GRID STORAGE CORP.<br/>By: /s/ Rhea Lindqvist, Chief Executive Officer<br/>Date: November 5, 2025</p>"""
    files = {
        "harborview-2025-10k.htm": filing_page(
            "Harborview Precision Instruments, Inc. - Form 10-K 2025",
            ix_header("0009900001", "HBVP", "Harborview Precision Instruments, Inc.", "2025-12-31", "10-K"), tenk_body),
        "larkspur-2025-8k.htm": filing_page(
            "Larkspur Grid Storage Corp. - Form 8-K",
            ix_header("0009900002", "LKGS", "Larkspur Grid Storage Corp.", "2025-11-03", "8-K"), eightk_body),
    }
    for name, html in files.items():
        write_text(os.path.join(out, "financial/filings", name), html)
    return list(files)


# ---------------------------------------------------------------------------
# PubMed XML
# ---------------------------------------------------------------------------

PUBMED_ARTICLES = [
    {
        "pmid": "90000001", "year": "2024", "month": "Mar", "journal": "Journal of Invented Cardiology",
        "iso": "J Invent Cardiol", "issn": "9990-0001", "volume": "12", "issue": "3", "pages": "201-210",
        "title": "Nurse-led titration of heart failure medication after discharge: a randomized trial.",
        "abstract": [
            ("BACKGROUND", "Many patients leave hospital after an admission for heart failure on doses well below guideline targets."),
            ("METHODS", "We randomly assigned 412 adults with reduced ejection fraction to weekly nurse-led telephone titration or usual follow-up for 16 weeks."),
            ("RESULTS", "Target doses of beta-blockers were reached by 58% of patients in the nurse-led group and 31% in the usual-care group (p &lt; 0.001). Rehospitalisation at six months did not differ significantly."),
            ("CONCLUSIONS", "Nurse-led titration doubled the proportion of patients reaching target doses without increasing adverse events."),
        ],
        "authors": [("Halvorsen", "Ingrid", "I"), ("Mbeki", "Thandiwe", "T"), ("Castellano", "Rafael", "R")],
        "types": [("D016428", "Journal Article"), ("D016449", "Randomized Controlled Trial")],
        "mesh": [("D006333", "Heart Failure", "Y"), ("D006801", "Humans", "N"), ("D000368", "Aged", "N")],
    },
    {
        "pmid": "90000002", "year": "2023", "month": "Nov", "journal": "Invented Neurology Reports",
        "iso": "Invent Neurol Rep", "issn": "9990-0002", "volume": "8", "issue": "11", "pages": "e1043",
        "title": "Sleep regularity and monthly migraine days in young adults: a prospective cohort study.",
        "abstract": [
            ("BACKGROUND", "Irregular sleep is often reported as a migraine trigger, but prospective data are limited."),
            ("METHODS", "A cohort of 286 university students with episodic migraine wore activity trackers for 90 days and kept an electronic headache diary."),
            ("RESULTS", "Each additional hour of variability in sleep onset was associated with 0.8 more migraine days per month (95% CI 0.3 to 1.3). The association was stronger in participants with aura."),
            ("CONCLUSIONS", "Regular sleep timing may be a simple, modifiable target in migraine prevention."),
        ],
        "authors": [("Okonkwo", "Chidera", "C"), ("Lindgren", "Maja", "M")],
        "types": [("D016428", "Journal Article")],
        "mesh": [("D008881", "Migraine Disorders", "Y"), ("D006801", "Humans", "N"), ("D005260", "Female", "N"),
                 ("D008297", "Male", "N")],
    },
    {
        "pmid": "90000003", "year": "2025", "month": "Jan", "journal": "Archives of Invented Gastroenterology",
        "iso": "Arch Invent Gastroenterol", "issn": "9990-0003", "volume": "41", "issue": "1", "pages": "55-63",
        "title": "Faecal calprotectin-guided treatment escalation in ulcerative colitis.",
        "abstract": [
            ("BACKGROUND", "Symptoms alone correlate poorly with mucosal inflammation in ulcerative colitis."),
            ("METHODS", "In a multicentre study across nine hospitals, 198 patients in clinical remission had treatment escalated when faecal calprotectin exceeded 250 <i>&#956;</i>g/g on two consecutive tests."),
            ("RESULTS", "Endoscopic remission at one year was 64% with calprotectin-guided care and 47% with symptom-guided care. Colectomy was rare in both groups."),
            ("CONCLUSIONS", "Calprotectin-guided escalation improved endoscopic outcomes and could be adopted in routine follow-up."),
        ],
        "authors": [("Ferreira", "Beatriz", "B"), ("Novak", "Tomas", "T"), ("Iyer", "Ananya", "A"), ("Walsh", "Declan", "D")],
        "types": [("D016428", "Journal Article"), ("D016448", "Multicenter Study")],
        "mesh": [("D003093", "Colitis, Ulcerative", "Y"), ("D006801", "Humans", "N")],
    },
    {
        "pmid": "90000004", "year": "2024", "month": "Jul", "journal": "Invented Journal of Infection",
        "iso": "Invent J Infect", "issn": "9990-0004", "volume": "19", "issue": "7", "pages": "877-885",
        "title": "Community health worker follow-up and treatment completion in pulmonary tuberculosis.",
        "abstract": [
            ("BACKGROUND", "Loss to follow-up remains a major obstacle to tuberculosis control in peri-urban districts."),
            ("METHODS", "Twenty clinics were randomized to home visits by community health workers or standard clinic-based follow-up; 1,164 adults starting first-line treatment were included."),
            ("RESULTS", "Treatment success was 89% in the intervention clinics and 78% in control clinics (risk difference 11 percentage points). Sputum conversion at two months was similar."),
            ("CONCLUSIONS", "Home visits by community health workers improved treatment completion and should be evaluated for scale-up."),
        ],
        "authors": [("Achieng", "Mercy", "M"), ("Patel", "Rohan", "R"), ("Dubois", "Claire", "C")],
        "types": [("D016428", "Journal Article"), ("D016449", "Randomized Controlled Trial")],
        "mesh": [("D014397", "Tuberculosis, Pulmonary", "Y"), ("D006801", "Humans", "N"), ("D000328", "Adult", "N")],
    },
]


def make_pubmed(out):
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             "<!-- Invented citations written by the kd team for the demo corpus (CC0). PMIDs 9000000x do not refer to real articles. -->",
             "<PubmedArticleSet>"]
    for a in PUBMED_ARTICLES:
        abstract = "\n".join(f'          <AbstractText Label="{label}" NlmCategory="{label}">{text}</AbstractText>'
                             for label, text in a["abstract"])
        authors = "\n".join(f'          <Author ValidYN="Y"><LastName>{ln}</LastName><ForeName>{fn}</ForeName>'
                            f"<Initials>{ini}</Initials></Author>" for ln, fn, ini in a["authors"])
        types = "\n".join(f'          <PublicationType UI="{ui}">{name}</PublicationType>' for ui, name in a["types"])
        mesh = "\n".join(f'        <MeshHeading><DescriptorName UI="{ui}" MajorTopicYN="{major}">{name}</DescriptorName></MeshHeading>'
                         for ui, name, major in a["mesh"])
        parts.append(f"""  <PubmedArticle>
    <MedlineCitation Status="MEDLINE" Owner="NLM">
      <PMID Version="1">{a["pmid"]}</PMID>
      <Article PubModel="Print">
        <Journal>
          <ISSN IssnType="Print">{a["issn"]}</ISSN>
          <JournalIssue CitedMedium="Print">
            <Volume>{a["volume"]}</Volume>
            <Issue>{a["issue"]}</Issue>
            <PubDate><Year>{a["year"]}</Year><Month>{a["month"]}</Month></PubDate>
          </JournalIssue>
          <Title>{a["journal"]}</Title>
          <ISOAbbreviation>{a["iso"]}</ISOAbbreviation>
        </Journal>
        <ArticleTitle>{a["title"]}</ArticleTitle>
        <Pagination><MedlinePgn>{a["pages"]}</MedlinePgn></Pagination>
        <Abstract>
{abstract}
        </Abstract>
        <AuthorList CompleteYN="Y">
{authors}
        </AuthorList>
        <Language>eng</Language>
        <PublicationTypeList>
{types}
        </PublicationTypeList>
      </Article>
      <MedlineJournalInfo><Country>United States</Country><MedlineTA>{a["iso"]}</MedlineTA></MedlineJournalInfo>
      <MeshHeadingList>
{mesh}
      </MeshHeadingList>
    </MedlineCitation>
    <PubmedData>
      <PublicationStatus>ppublish</PublicationStatus>
      <ArticleIdList><ArticleId IdType="pubmed">{a["pmid"]}</ArticleId></ArticleIdList>
    </PubmedData>
  </PubmedArticle>""")
    parts.append("</PubmedArticleSet>")
    write_text(os.path.join(out, "medical/pubmed_sample/sample.xml"), "\n".join(parts) + "\n")


# ---------------------------------------------------------------------------
# Statutes: USLM public law and Akoma Ntoso act
# ---------------------------------------------------------------------------

USLM = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Invented public law written by the kd team for the demo corpus (CC0); the 999th Congress does not exist. -->
<pLaw xmlns="http://schemas.gpo.gov/xml/uslm" xmlns:dc="http://purl.org/dc/elements/1.1/" xml:lang="en">
<meta>
<dc:title>Public Law 999-1: Rural Library Broadband Access Act of 2026</dc:title>
<dc:type>Public Law</dc:type>
<docNumber>1</docNumber>
<citableAs>Public Law 999-1</citableAs>
<dc:publisher>kd demo corpus</dc:publisher>
<dc:language>EN</dc:language>
<congress>999</congress>
<publicPrivate>public</publicPrivate>
</meta>
<main>
<longTitle>
<docTitle>An Act</docTitle>
<officialTitle>To expand high-speed internet service in public libraries located in rural communities, and for other purposes.</officialTitle>
</longTitle>
<enactingFormula>Be it enacted by the Senate and House of Representatives of the United States of America in Congress assembled,</enactingFormula>
<section identifier="/us/pl/999/1/s1">
<num value="1">Sec. 1.</num>
<heading>Short title.</heading>
<content>This Act may be cited as the &#8220;Rural Library Broadband Access Act of 2026&#8221;.</content>
</section>
<section identifier="/us/pl/999/1/s2" role="definitions">
<num value="2">Sec. 2.</num>
<heading>Definitions.</heading>
<chapeau>In this Act:</chapeau>
<paragraph identifier="/us/pl/999/1/s2/1">
<num value="1">(1)</num>
<heading>Eligible library.</heading>
<content>The term &#8220;eligible library&#8221; means a public library that serves a population of fewer than 25,000 residents and is located outside an urbanized area.</content>
</paragraph>
<paragraph identifier="/us/pl/999/1/s2/2">
<num value="2">(2)</num>
<heading>High-speed service.</heading>
<content>The term &#8220;high-speed service&#8221; means internet access with a download speed of at least 1 gigabit per second and an upload speed of at least 100 megabits per second.</content>
</paragraph>
</section>
<section identifier="/us/pl/999/1/s3">
<num value="3">Sec. 3.</num>
<heading>Grant program.</heading>
<subsection identifier="/us/pl/999/1/s3/a">
<num value="a">(a)</num>
<heading>In general.</heading>
<content>The Secretary of Commerce shall award competitive grants to States to connect eligible libraries to high-speed service and to provide public wireless access within 300 feet of each library building.</content>
</subsection>
<subsection identifier="/us/pl/999/1/s3/b">
<num value="b">(b)</num>
<heading>Use of funds.</heading>
<content>A State receiving a grant may use the funds for construction, equipment, installation, and the first 3 years of service charges, and may not use more than 5 percent of the grant for administrative costs.</content>
</subsection>
<subsection identifier="/us/pl/999/1/s3/c">
<num value="c">(c)</num>
<heading>Priority.</heading>
<content>In awarding grants, the Secretary shall give priority to applications that serve libraries without any wired broadband connection on the date of enactment of this Act.</content>
</subsection>
</section>
<section identifier="/us/pl/999/1/s4">
<num value="4">Sec. 4.</num>
<heading>Reports.</heading>
<content>Not later than 2 years after the date of enactment of this Act, and annually thereafter, the Secretary shall submit to Congress a report describing the number of libraries connected, the average speeds achieved, and the hours of public access provided.</content>
</section>
<section identifier="/us/pl/999/1/s5">
<num value="5">Sec. 5.</num>
<heading>Authorization of appropriations.</heading>
<content>There is authorized to be appropriated to carry out this Act $120,000,000 for each of fiscal years 2027 through 2031.</content>
</section>
</main>
</pLaw>
"""

AKN = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Invented act written by the kd team for the demo corpus (CC0); "zz" is a placeholder jurisdiction. -->
<akomaNtoso xmlns="http://docs.oasis-open.org/legaldocml/ns/akn/3.0">
<act name="communityComposting">
<meta>
<identification source="#kdteam">
<FRBRWork>
<FRBRthis value="/akn/zz/act/2026-04-14/12/!main"/>
<FRBRuri value="/akn/zz/act/2026-04-14/12"/>
<FRBRdate date="2026-04-14" name="enactment"/>
<FRBRauthor href="#assembly"/>
<FRBRcountry value="zz"/>
<FRBRnumber value="12"/>
<FRBRname value="Community Composting Act 2026"/>
</FRBRWork>
<FRBRExpression>
<FRBRthis value="/akn/zz/act/2026-04-14/12/eng@/!main"/>
<FRBRuri value="/akn/zz/act/2026-04-14/12/eng@"/>
<FRBRdate date="2026-04-14" name="publication"/>
<FRBRauthor href="#assembly"/>
<FRBRlanguage language="eng"/>
</FRBRExpression>
<FRBRManifestation>
<FRBRthis value="/akn/zz/act/2026-04-14/12/eng@/!main.xml"/>
<FRBRuri value="/akn/zz/act/2026-04-14/12/eng@.akn"/>
<FRBRdate date="2026-05-01" name="markup"/>
<FRBRauthor href="#kdteam"/>
</FRBRManifestation>
</identification>
<references source="#kdteam">
<TLCOrganization eId="assembly" href="/ontology/organization/zz/assembly" showAs="Regional Assembly"/>
<TLCPerson eId="kdteam" href="/ontology/person/kdteam" showAs="kd team"/>
</references>
</meta>
<preface>
<p class="title"><docTitle>Community Composting Act 2026</docTitle></p>
<p><docNumber>Act No. 12 of 2026</docNumber></p>
</preface>
<body>
<article eId="art_1">
<num>1</num>
<heading>Purpose</heading>
<paragraph eId="art_1__para_1">
<content><p>The purpose of this Act is to reduce the amount of food and garden waste sent to landfill by supporting composting facilities run by neighbourhood associations.</p></content>
</paragraph>
</article>
<article eId="art_2">
<num>2</num>
<heading>Definitions</heading>
<paragraph eId="art_2__para_1">
<content><p>In this Act, &#8220;community composting site&#8221; means a site that receives no more than 500 tonnes of organic material per year and is managed by a non-profit association.</p></content>
</paragraph>
<paragraph eId="art_2__para_2">
<content><p>&#8220;Municipality&#8221; means a local authority responsible for the collection of household waste.</p></content>
</paragraph>
</article>
<article eId="art_3">
<num>3</num>
<heading>Duties of municipalities</heading>
<paragraph eId="art_3__para_1">
<num>1.</num>
<content><p>Each municipality shall publish, by 31 December 2027, a plan identifying at least one location suitable for a community composting site per 10,000 residents.</p></content>
</paragraph>
<paragraph eId="art_3__para_2">
<num>2.</num>
<content><p>A municipality may lease public land to an association for a community composting site for a nominal rent.</p></content>
</paragraph>
</article>
<article eId="art_4">
<num>4</num>
<heading>Operating standards</heading>
<paragraph eId="art_4__para_1">
<content><p>Operators shall keep records of incoming material, monitor temperature during the active composting phase, and prevent odour and pest nuisance to neighbouring properties.</p></content>
</paragraph>
</article>
<article eId="art_5">
<num>5</num>
<heading>Entry into force</heading>
<paragraph eId="art_5__para_1">
<content><p>This Act enters into force on the first day of the third month following its publication.</p></content>
</paragraph>
</article>
</body>
</act>
</akomaNtoso>
"""


def make_statutes(out):
    write_text(os.path.join(out, "legal/statutes/pl-999-1-uslm.xml"), USLM)
    write_text(os.path.join(out, "legal/statutes/zz-act-2026-12-akn.xml"), AKN)


# ---------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------

def counts_table(pairs):
    c = collections.Counter(pairs)
    rows = sorted(((k or "(unlabeled)"), v) for k, v in c.items())
    return "\n".join(f"| {k} | {v} |" for k, v in rows)


def make_readme(out, csv_rows, json_rows, bank_rows, tos_stats, filings):
    total_abs = len(csv_rows) + len(json_rows)
    med_labels = [r["label"] for r in csv_rows] + [r.get("label") or "" for r in json_rows]
    bank_labels = [l for _, l in bank_rows]
    tos_labels = []
    for _, _, tags in tos_stats:
        for t in tags:
            tos_labels.append("unfair" if any(re.search(r"[23]$", x) for x in t.split()) else "fair")
    tos_lines = sum(len(s) for _, s, _ in tos_stats)
    line_counts = collections.Counter(line for _, s, _ in tos_stats for line in s)
    tos_dupes = sum(n for n in line_counts.values() if n > 1)
    services = ", ".join(f"{svc} ({len(s)})" for svc, s, _ in tos_stats)
    readme = f"""# kd demo corpora

Small sample corpora for `make demo`: `kd-ingest corpora/` reads every file here, the teacher
(all-MiniLM-L6-v2 embeddings + a logistic-regression head fitted on the labeled training examples)
scores them, and `kd-train` compares a distilled student with a no-KD baseline on each task.

All text was written by the kd team and is released under CC0 1.0 (public domain dedication).
It is generated by `tools/make_demo_corpora.py` (deterministic; rerun it to regenerate these files)
from hand-written phrase banks. Companies, services, people, journals, PMIDs and laws are invented;
nothing is copied from any dataset. The texts are realistic in style but are not medical, legal or
financial advice or fact.

The folder layout follows kd's conventions: `corpora/<domain>/<task>/...`. Splits are not stored in
the files; kd assigns train/validation/test by hashing each example. Unlabeled rows are still used
(the teacher labels them for distillation).

| Path | Format | Task | Examples |
|---|---|---|---|
| `medical/abstract_topics/abstracts.csv` | CSV (`id,text,label`, RFC 4180 quoting; some fields hold commas, double quotes or a line break) | abstract_topics | {len(csv_rows)} |
| `medical/abstract_topics/more_abstracts.jsonl.gz` | gzip JSON lines (`id`, `text`, `label`; label `null` or missing = unlabeled) | abstract_topics | {len(json_rows)} |
| `medical/pubmed_sample/sample.xml` | PubMed XML (`PubmedArticleSet`, structured abstracts, MeSH) | pubmed_sample (unlabeled) | {len(PUBMED_ARTICLES)} citations |
| `legal/clause_fairness/sentences/*.txt` + `tags/*.txt` | parallel line files, mapped by `legal/kd-corpus.yaml` | clause_fairness | {tos_lines} |
| `legal/statutes/pl-999-1-uslm.xml` | USLM public law (`pLaw`, namespace `http://schemas.gpo.gov/xml/uslm`) | statutes (unlabeled) | 5 sections |
| `legal/statutes/zz-act-2026-12-akn.xml` | Akoma Ntoso 3.0 act | statutes (unlabeled) | 5 articles |
| `financial/banking_intents/queries.tsv` | TSV (`text<TAB>label`) | banking_intents | {len(bank_rows)} |
| `financial/filings/*.htm` | EDGAR-style HTML 10-K and 8-K with `<script>`, `<style>` and a hidden inline-XBRL header (must not be extracted) | filings (unlabeled) | {len(filings)} documents |

## abstract_topics (medical)

Clinical abstract snippets of 2-4 sentences (background, methods, results, conclusion), {total_abs} in all,
about 40% unlabeled. Labels:

| label | rows |
|---|---|
{counts_table(med_labels)}

## clause_fairness (legal)

Terms-of-service sentences of {len(tos_stats)} invented services: {services}.
Line i of `tags/<Service>.txt` holds the tags of line i of `sentences/<Service>.txt`; an empty
line means no tag. Tags follow the CLAUDETTE scheme: `a` arbitration, `ch` unilateral change,
`cr` content removal, `j` jurisdiction, `law` choice of law, `ltd` limitation of liability,
`ter` unilateral termination, `use` contract by using; suffix `1` = fair, `2` = potentially unfair,
`3` = clearly unfair. The manifest maps a line to `unfair` when any tag ends in 2 or 3, else `fair`.

| label | lines |
|---|---|
{counts_table(tos_labels)}

## banking_intents (financial)

Short customer-support queries to a retail bank, about 40% unlabeled. Labels:

| label | rows |
|---|---|
{counts_table(bank_labels)}

## Unlabeled documents

`medical/pubmed_sample`, `legal/statutes` and `financial/filings` exercise the structured readers
(PubMed, USLM, Akoma Ntoso, EDGAR HTML). They carry no class labels; they add unlabeled domain text
(the readers split them into sections: abstract parts, statute sections, 10-K/8-K items).

## Notes

- Terms-of-service boilerplate repeats across services, as it does in real terms: about
  {tos_dupes} of the {tos_lines} clause lines occur in more than one service's file; kd's dedup keeps the
  first copy and marks the others as duplicates.
- Regenerate with `python3 tools/make_demo_corpora.py` (options `--out DIR`, `--seed N`); the same
  seed gives byte-identical files.
"""
    write_text(os.path.join(out, "README.md"), readme)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpora"))
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    out = os.path.normpath(args.out)
    rng = random.Random(args.seed)
    csv_rows, json_rows = make_medical(rng, out)
    bank_rows = make_banking(rng, out)
    tos_stats = make_tos(rng, out)
    filings = make_filings(out)
    make_pubmed(out)
    make_statutes(out)
    make_readme(out, csv_rows, json_rows, bank_rows, tos_stats, filings)
    print(f"wrote demo corpora to {out}")


if __name__ == "__main__":
    main()
